"""ADS, the Auto Deployment Service: labs (an application plus its VM) from a labspec."""

__version__ = "0.1.0"
