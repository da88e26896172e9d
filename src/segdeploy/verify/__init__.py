"""`segdeploy verify`: an engine against the PyTorch reference, with tolerances, task metrics and a bisect."""
