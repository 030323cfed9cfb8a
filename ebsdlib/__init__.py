"""ebsdlib: few-shot classification of EBSD patterns to space groups (Kaufmann et al., Sci. Rep. 2021).

One module per stage; data flows one way:
materials -> simulate -> datasets -> preprocess -> models -> training -> evaluation.
"""

__version__ = "0.1.0"
