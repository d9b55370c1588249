"""Data layer: dataset catalogue, label parsing, manifests, splits and the decoded-image cache."""
