"""The streaming shell: Faust agents that move batches between topics, kernels and sinks."""
