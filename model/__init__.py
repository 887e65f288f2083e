"""vamen.model: the neural and DSP core. Pure computation: no devices, no sockets.

Contents
--------
config      LoopConfig: the frozen front-end and model shape stored in checkpoints
features    MelFrontEnd: audio -> normalised log spectra (linear bins or mel) -> magnitude
stft        circular STFT / inverse STFT for loops, Fourier-domain loop resampling
inversion   fast Griffin-Lim, LoopRenderer (tempo-synced rendering), spectral convergence
vae         LoopVAE: the convolutional VAE over (bins x frames)
loopmodel   LoopModel: the deployable model (encode, decode, render, anchors)
checkpoint  one-file checkpoints, loaded as data (weights_only=True)
audio       reading audio files and cutting them into bars
dataset     training loops, re-chop augmentation, held-out split
train       Trainer: KL warm-up, free bits, the loss heard through mel bands, torchrun, resume
report      training report: JSON figures, loss and latent plots
evaluate    reconstruction, inversion, listening, active dimensions and rhythm figures
listening   what a loop sounds like in figures: dynamic ranges, air, onset correlation
bench       render benchmark against librosa
drums       drum voices for the synthesiser
synth       synthetic breaks: patterns, swing, ghost notes, the kit played
studio      the synthetic breaks' room, bus compression and grit
chopping    re-chops of a synthetic break's 16th-note slices
recorded    the CC0 corpus: recorded breaks re-chopped, patterns on recorded one-shots
files       atomic file writes
errors      VamenError, CheckpointError, AudioFileError
"""
