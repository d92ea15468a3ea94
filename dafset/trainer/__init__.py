"""The bundled DAFNet trainer (arXiv 2405.20588): gradient signals, auxiliary network, sequential
editor, training, the fixed evaluation protocol, and the MEND / fine-tuning baselines.

It reads only the published DAFSet layout (dafset.schema.SAMPLE_SCHEMA), never the harvesting code.
Modules import torch lazily from here: ``import dafset.trainer`` itself stays light.
"""
