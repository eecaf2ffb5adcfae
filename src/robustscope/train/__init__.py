"""Training of the small reference classifiers that robustscope evaluates offline."""

from robustscope.train.trainer import augment_batch, evaluate_accuracy, load_images, save_checkpoint, train_classifier

__all__ = ["augment_batch", "evaluate_accuracy", "load_images", "save_checkpoint", "train_classifier"]
