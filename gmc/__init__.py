"""GMC-IQA benchmark harness: data, models (MoNet), losses (GCC + zoo), training, metrics, reporting."""

__version__ = "0.1.0"
