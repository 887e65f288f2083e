"""vamen.model: the neural and DSP core. Pure computation: no devices, no sockets.

Contents
--------
config      LoopConfig, the frozen front-end and model shape stored in checkpoints
errors      VamenError, CheckpointError, AudioFileError
"""
