"""``python -m gmc describe-model``: what a researcher reads to see how a model is trained."""

from gmc.cli import main


def test_describe_model_shows_the_cards_protocol_and_loss(capsys):
    assert main(["describe-model", "monet"]) in (0, None)
    out = capsys.readouterr().out
    assert "native loss     mse" in out
    assert "data protocol   whole image resized to 224 px" in out
    assert "backbone" in out and "num_views" in out  # the build function's options
