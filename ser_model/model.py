"""The emotion classifier: a compact 1-D residual CNN over log-mel windows.

Why 1-D convolutions over time with mel bands as channels (as in TC-ResNet for
keyword spotting) rather than a 2-D image CNN: the same receptive field over ~1 s of
prosody costs roughly a tenth of the multiply-adds, which is what lets the nightly
job score hours of calls per CPU-minute. Mean+std statistics pooling over time makes
the decision depend on how the voice varies, not on where in the window it speaks.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ser_model.features import DEFAULT_SPEC, FeatureSpec


@keras.saving.register_keras_serializable(package="callmood")
class SpecAugment(layers.Layer):
    """SpecAugment-style time and frequency masking, active only while training."""

    def __init__(self, time_masks: int = 2, max_time_frames: int = 30, freq_masks: int = 2,
                 max_freq_bins: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.time_masks = time_masks
        self.max_time_frames = max_time_frames
        self.freq_masks = freq_masks
        self.max_freq_bins = max_freq_bins

    def _mask(self, batch: int, length: int, n_masks: int, max_width: int) -> tf.Tensor:
        keep = tf.ones((batch, length), dtype=tf.bool)
        positions = tf.range(length)[None, :]
        for _ in range(n_masks):
            width = tf.random.uniform((batch, 1), 0, max_width + 1, dtype=tf.int32)
            start = tf.random.uniform((batch, 1), 0, length, dtype=tf.int32)
            keep &= ~((positions >= start) & (positions < start + width))
        return tf.cast(keep, tf.float32)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = tf.shape(inputs)
        time_keep = self._mask(shape[0], shape[1], self.time_masks, self.max_time_frames)
        freq_keep = self._mask(shape[0], shape[2], self.freq_masks, self.max_freq_bins)
        return inputs * time_keep[:, :, None] * freq_keep[:, None, :]

    def get_config(self):
        return {**super().get_config(), "time_masks": self.time_masks, "max_time_frames": self.max_time_frames,
                "freq_masks": self.freq_masks, "max_freq_bins": self.max_freq_bins}


@keras.saving.register_keras_serializable(package="callmood")
class SpeechFrames(layers.Layer):
    """1.0 for frames that hold audio, 0.0 for the zero padding after a short turn.

    `normalise_window` pads a short turn with exact zeros; real frames are never all
    zero after level normalisation, so the mask can be read off the input itself and
    the served model needs no second input.
    """

    def call(self, inputs):
        return tf.cast(tf.reduce_any(tf.not_equal(inputs, 0.0), axis=-1, keepdims=True), inputs.dtype)


@keras.saving.register_keras_serializable(package="callmood")
class StatsPooling(layers.Layer):
    """Mean and standard deviation over the real (unpadded) frames, concatenated.

    Pooling over the padding too would make a 1 s word look like a flat, quiet 3 s
    utterance: the statistics would describe the window's length, not the voice.
    """

    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            features, frame_mask = inputs
        else:  # models saved before the mask existed pool over every frame
            features, frame_mask = inputs, tf.ones_like(inputs[:, :, :1])
        count = tf.reduce_sum(frame_mask, axis=1) + 1e-6
        mean = tf.reduce_sum(features * frame_mask, axis=1) / count
        variance = tf.reduce_sum(tf.square(features - mean[:, None, :]) * frame_mask, axis=1) / count
        return tf.concat([mean, tf.sqrt(variance + 1e-6)], axis=-1)


@keras.saving.register_keras_serializable(package="callmood")
def masked_crossentropy(y_true, y_pred):
    """Cross-entropy over the classes the clip's corpus can have: -log(p_label / sum of allowed p).

    `y_true` is (batch, 1 + n_classes): the label index, then a 0/1 mask of the
    classes the clip's corpus is labelled with. Renormalising over the allowed
    classes leaves the logits of the others without gradient, so a Korean clip
    with four labels neither pushes disgust or fear down nor teaches that they never
    occur; a corpus with all six classes gets plain cross-entropy.
    """
    label = tf.cast(y_true[:, 0], tf.int32)
    allowed = y_true[:, 1:]
    probabilities = tf.clip_by_value(y_pred, 1e-7, 1.0)
    p_label = tf.gather(probabilities, label, axis=1, batch_dims=1)
    p_allowed = tf.reduce_sum(probabilities * allowed, axis=-1)
    return tf.math.log(p_allowed) - tf.math.log(p_label)


def training_targets(labels, allowed):
    """The `y` that `masked_crossentropy` reads: label index and allowed-class mask side by side."""
    return np.concatenate([np.asarray(labels, dtype=np.float32)[:, None], np.asarray(allowed, np.float32)], axis=1)


def _residual_block(x, filters: int, l2: float):
    shortcut = layers.Conv1D(filters, 1, use_bias=False, kernel_regularizer=keras.regularizers.l2(l2))(x)
    shortcut = layers.BatchNormalization()(shortcut)
    y = layers.Conv1D(filters, 3, padding="same", use_bias=False, kernel_regularizer=keras.regularizers.l2(l2))(x)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(y)
    y = layers.Conv1D(filters, 3, padding="same", use_bias=False, kernel_regularizer=keras.regularizers.l2(l2))(y)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU()(layers.Add()([y, shortcut]))
    return layers.MaxPooling1D(2)(y)


def build_model(n_classes: int, *, spec: FeatureSpec = DEFAULT_SPEC, stem_filters: int = 64,
                block_filters: tuple[int, ...] = (96, 128, 128), dense_units: int = 64,
                dropout: float = 0.3, l2: float = 1e-4, learning_rate: float = 2e-3,
                spec_augment: bool = True) -> keras.Model:
    """A compiled classifier from (window_frames, n_mels) log-mel windows to class probabilities."""
    inputs = keras.Input((spec.window_frames, spec.n_mels), name="log_mel")
    # The mask follows the time axis down the network: the stem halves it, each block halves it again.
    frame_mask = layers.MaxPooling1D(2, padding="same")(SpeechFrames(name="speech_frames")(inputs))
    x = SpecAugment(name="spec_augment")(inputs) if spec_augment else inputs
    x = layers.Conv1D(stem_filters, 5, strides=2, padding="same", use_bias=False,
                      kernel_regularizer=keras.regularizers.l2(l2))(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for filters in block_filters:
        x = _residual_block(x, filters, l2)
        frame_mask = layers.MaxPooling1D(2)(frame_mask)
    x = StatsPooling(name="stats_pooling")([x, frame_mask])
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense_units, activation="relu", kernel_regularizer=keras.regularizers.l2(l2))(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="callmood_ser")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=masked_crossentropy)
    return model
