"""The `policy.npz` format: its one version constant, shared by the exporter and the NumPy reader."""

FORMAT_VERSION = 1  # bump on any incompatible change of the layout documented in mmjax/policy/export.py
