"""The lab domain core: labspecs, the OS catalogue, sizing, pricing, plans and lab ids.

Pure code (no AWS calls, no I/O besides the bundled data files), shared by the Lambdas,
the API, the CLI and the local control plane.
"""
