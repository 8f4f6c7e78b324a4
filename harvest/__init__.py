"""Source harvesters: one module per source, each a small client plus pure parse functions."""
