"""`segdeploy deploy`: from an official checkpoint to the fastest deployment that keeps its accuracy."""
