"""What a Trainer needs to train data-parallel under a tf.distribute strategy.

training.py runs `train_step` on every replica with its slice of the global batch, the
optimizers sum the replicas' gradients (Keras 3's TensorFlow optimizer all-reduces them with
ReduceOp.SUM inside apply_gradients) and the loop sums the losses the replicas return. So:

- a loss is written as this replica's share of the global batch's loss (`batch_mean`,
  `masked_mean`): the shares' gradients add up to the single-device gradient of the global
  batch, and the shares to its loss, however the batch is split;
- random draws differ between replicas (`ReplicaSeedGenerator`, `ReplicaDropout`): Keras'
  SeedGenerator hands every replica the same seed, so two replicas would draw the same noise
  and the same dropout mask for different images (tf.random.Generator already folds in the
  replica id);
- loss scaling skips a step when any replica's gradients overflow
  (`ReplicaLossScaleOptimizer`).

With one replica (TensorFlow's default strategy) each computes exactly what the plain Keras or
TensorFlow call does, so single-device training is unchanged to the bit.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers


def _context():
    """The replica context when there are several replicas, else None."""
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def replicas() -> int:
    """Replicas of the strategy in scope: 1 without one."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def global_sum(value):
    """`value` summed over the replicas (itself with one)."""
    context = _context()
    return value if context is None else context.all_reduce(tf.distribute.ReduceOp.SUM, value)


def batch_mean(values):
    """This replica's share of the mean of `values` over the global batch (tf.reduce_mean with one replica)."""
    if _context() is None:
        return tf.reduce_mean(values)
    return tf.reduce_sum(values) / global_sum(tf.cast(tf.size(values), values.dtype))


def masked_mean(values, masks):
    """This replica's share of the mean of `values` (B, H, W, C) over the global batch's pixels
    where the one-channel `masks` is 1, every channel counted; 0 where no pixel is."""
    channels = values.shape[-1]
    return tf.reduce_sum(values * masks) / tf.maximum(channels * global_sum(tf.reduce_sum(masks)), 1.0)


def _fold(seed):
    """`seed` folded with the replica id when there are several replicas."""
    context = _context()
    return seed if context is None else tf.random.experimental.stateless_fold_in(
        seed, context.replica_id_in_sync_group)


class ReplicaSeedGenerator(keras.random.SeedGenerator):
    """A keras SeedGenerator whose seeds differ between replicas."""

    def next(self, ordered=True):
        return _fold(super().next(ordered))


class ReplicaDropout(layers.Dropout):
    """keras.layers.Dropout whose masks differ between replicas."""

    def call(self, inputs, training=False):
        if _context() is None or not (training and self.rate > 0):
            return super().call(inputs, training=training)
        return tf.nn.experimental.stateless_dropout(inputs, self.rate, _fold(self.seed_generator.next()),
                                                    noise_shape=self.noise_shape)


class ReplicaLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Dynamic loss scaling whose overflow check covers every replica's gradients.

    Keras' own checks, on several GPUs, only the first replica's gradients (the rest are all-reduced
    into the update unchecked), so an overflow on another replica would write inf into the weights.
    """

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        if _context() is None:
            return finite
        return tf.equal(global_sum(1.0 - tf.cast(finite, tf.float32)), 0.0)
