"""Training and evaluating the emotion model: FER-2013 loading, augmentation, the CNN, training,
ensembles, the LiteRT export, metrics and evaluation. Needs ``requirements-train.txt``; nothing
that serves imports this package."""
