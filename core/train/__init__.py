"""Training: the loop and its steps (loop, step, state), losses and distillation, DE³ prototypes, COST-EFF
slenderization before distillation (slim), shrinking for shipping (shrink), and model cards (card).

Other packages import this package, never its modules."""
from core.train.loop import TrainConfig, length_bucketed, load_rows, param_digest, parse_args, train
from core.train.losses import dar_loss, exit_loss, exit_weights, lte_loss, prototype_loss
from core.train.prototypes import centrality

__all__ = ["TrainConfig", "centrality", "dar_loss", "exit_loss", "exit_weights", "length_bucketed", "load_rows",
           "lte_loss", "param_digest", "parse_args", "prototype_loss", "train"]
