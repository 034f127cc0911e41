"""The one scoring path: bytes (or anything a decoder turns into an array) in, results with maps out.

The worker pipeline, the try-out and the ``predict`` command all score through
:func:`score_batches`; they differ only in where the bytes come from and where
the results go (that half lives in ``inference``: storage, rows). Decoding is
``oncocore.decode``'s, exactly as training decoded its images; the saliency map
comes out at the model's own resolution, packed as a small 16-bit PNG and the
description needed to lay it on the original image (:class:`SaliencyMap`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from .decode import dicom_model_input
from .drift import input_stats
from .predictor import PredictionResult, Predictor, Prepared, iter_prepared
from .preprocessing import PreprocessSpec, load_image, to_uint8_display
from .saliency import SaliencyMap

__all__ = ["DECODE_ERRORS", "Scored", "model_input", "overlay_display", "score_batches"]

K = TypeVar("K")

# What a bad or vanished input raises while decoding: reported per input, the rest go on.
DECODE_ERRORS: tuple[type[BaseException], ...] = (ValueError, KeyError, FileNotFoundError)


def model_input(data: bytes, *, dicom: bool, spec: PreprocessSpec, frame: int | None = None) -> np.ndarray:
    """The model input for a file's bytes, decoded exactly as training decoded its images.

    Args:
        data: The file's bytes.
        dicom: A DICOM file (else a plain image).
        spec: The model's preprocessing (channels, intensity mode, CT window).
        frame: The DICOM frame; None: the middle one, as intake shows it.

    Raises:
        ValueError: Not decodable.
    """
    if dicom:
        return dicom_model_input(data, frame=frame, spec=spec)
    return load_image(data, spec.channels)


def overlay_display(array: np.ndarray) -> np.ndarray:
    """An 8-bit image to draw a saliency overlay on, for a model input.

    8-bit inputs are what the model saw; raw values (a spec that windows them
    itself) get the intake's percentile display windowing.
    """
    return array if array.dtype == np.uint8 else to_uint8_display(np.asarray(array, dtype=np.float32))


@dataclass
class Scored(Generic[K]):
    """One input's outcome: decoded and scored, or the error that stopped it.

    Attributes:
        key: What the caller passed in (a row, a path).
        array: The decoded model input (None on error).
        prepared: Its stage-A tensors, made in the decode pool (None on error).
        error: The exception decoding raised (one of the ``catch`` types), or None.
        decode_ms: Time spent decoding this input.
        result: The prediction (None on error).
        saliency_png: The map's cells as a 16-bit PNG; empty without a map.
        saliency_meta: What :meth:`SaliencyMap.from_png16` needs beside the PNG; None without a map.
        input_stats: Simple statistics of the input (:func:`oncocore.drift.input_stats`), for drift watch.
    """

    key: K
    array: np.ndarray | None = None
    prepared: Prepared | None = None
    error: BaseException | None = None
    decode_ms: float = 0.0
    result: PredictionResult | None = None
    saliency_png: bytes = b""
    saliency_meta: dict[str, Any] | None = None
    input_stats: dict[str, float] | None = None

    @property
    def saliency(self) -> SaliencyMap | None:
        return None if self.result is None else self.result.saliency

    @property
    def out_of_scope(self) -> bool:
        """The model's suitability check found the input unlike its training images (no class to give)."""
        return self.result is not None and self.result.in_scope is False


def score_batches(
    predictor: Predictor,
    keys: Iterable[K],
    decode: Callable[[K], np.ndarray],
    *,
    saliency: bool = True,
    catch: tuple[type[BaseException], ...] = DECODE_ERRORS,
    batch_size: int | None = None,
) -> Iterator[list[Scored[K]]]:
    """Decode and score inputs batch by batch, in input order.

    The next batch decodes in a thread pool while the model runs on this one.
    An input whose ``decode`` raises one of ``catch`` comes back with its
    ``error`` set and no result; anything else raised propagates.

    Args:
        predictor: The loaded model or ensemble.
        keys: The inputs, as the caller knows them.
        decode: Turns a key into the model input (e.g. reads bytes and calls :func:`model_input`).
        saliency: Also compute the Grad-CAM of each predicted class.
        catch: Decoding errors reported per input.
        batch_size: Inputs per forward pass (default: the predictor's).

    Yields:
        One list of :class:`Scored` per batch.
    """

    def prepare(key: K) -> Scored[K]:
        t0 = time.perf_counter()
        try:
            array = decode(key)
            decode_ms = (time.perf_counter() - t0) * 1e3
            # Stage A here too, in this pool, so it overlaps the model's pass on the batch before.
            prepared = predictor.prepare(array)
        except catch as exc:
            return Scored(key, error=exc)
        # The lead's stage-A input: what its model (and suitability check) sees. Tens of microseconds.
        seen = prepared.by_spec[predictor.specs[0]][0].numpy()
        stats = input_stats(array, seen)
        return Scored(key, array=array, prepared=prepared, decode_ms=decode_ms, input_stats=stats)

    for batch in iter_prepared(
        keys, prepare, batch_size=batch_size or predictor.batch_size, num_workers=predictor.num_workers
    ):
        ok = [s for s in batch if s.error is None]
        if ok:
            results = predictor.predict_prepared([s.prepared for s in ok], saliency=saliency)  # type: ignore[misc]
            for s, r in zip(ok, results, strict=True):
                s.result = r
                if r.saliency is not None:
                    s.saliency_png, s.saliency_meta = r.saliency.to_png16(), r.saliency.meta()
        yield batch
