"""Sample-rate conversion of mono float audio through libswresample (PyAV), no SciPy needed."""

from __future__ import annotations

import av
import numpy as np


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """`samples` (float mono at `rate`) converted to `target_rate`, time-aligned.

    The result has exactly round(len * target_rate / rate) samples, so times computed from
    sample counts stay valid after conversion.
    """
    samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
    rate, target_rate = int(rate), int(target_rate)
    if rate == target_rate or samples.size == 0:
        return samples.copy()
    wanted = round(samples.size * target_rate / rate)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=target_rate)
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    pieces = [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    result = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    if result.size < wanted:
        result = np.pad(result, (0, wanted - result.size))
    return np.ascontiguousarray(result[:wanted], dtype=np.float32)
