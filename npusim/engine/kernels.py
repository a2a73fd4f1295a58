"""Per-line work of the engine that is not the LLC or DRAM: numba kernels.

* `runs_to_lines`: the line addresses a batch of byte runs touches, in order
  (what a bypassing read or write sends to DRAM).
* `line_count`: how many lines a batch of runs touches, optionally weighted
  by readers (multicast bookkeeping).
* `region_touch`: first-touch tracking of tensors resident in a cache
  region: lines touched for the first time are returned (a read fetches them
  from DRAM, a write just places them); later touches are region hits.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def line_count(starts, lengths, readers, line_bytes, weighted):
    total = 0
    for i in range(starts.shape[0]):
        n = (starts[i] + lengths[i] - 1) // line_bytes - starts[i] // line_bytes + 1
        total += n * readers[i] if weighted else n
    return total


@nb.njit(cache=True)
def runs_to_lines(starts, lengths, line_bytes):
    n = 0
    for i in range(starts.shape[0]):
        n += (starts[i] + lengths[i] - 1) // line_bytes - starts[i] // line_bytes + 1
    out = np.empty(n, dtype=np.int64)
    k = 0
    for i in range(starts.shape[0]):
        first = starts[i] // line_bytes
        last = (starts[i] + lengths[i] - 1) // line_bytes
        for ln in range(first, last + 1):
            out[k] = ln * line_bytes
            k += 1
    return out


@nb.njit(cache=True)
def region_touch(starts, lengths, line_bytes, range_lo, range_hi, range_off, bitmap, mark):
    """Lines of the runs not yet present in the region (first touches), in order.

    Resident tensors are byte ranges [range_lo, range_hi) whose lines have
    presence bits at bitmap[range_off + line index]. With mark, first touches
    set the bit. Lines outside every range (not resident: a run reaching past
    its tensor) are returned apart. Returns (first-touch line addresses,
    number of lines already present, line addresses outside every range).
    """
    n = 0
    for i in range(starts.shape[0]):
        n += (starts[i] + lengths[i] - 1) // line_bytes - starts[i] // line_bytes + 1
    out = np.empty(n, dtype=np.int64)
    stray = np.empty(n, dtype=np.int64)
    k = 0
    m = 0
    present = 0
    r = 0
    for i in range(starts.shape[0]):
        first = starts[i] // line_bytes
        last = (starts[i] + lengths[i] - 1) // line_bytes
        for ln in range(first, last + 1):
            addr = ln * line_bytes
            # ranges are few; the previous one usually matches again
            if not (range_lo.shape[0] > 0 and range_lo[r] <= addr < range_hi[r]):
                r = -1
                for j in range(range_lo.shape[0]):
                    if range_lo[j] <= addr < range_hi[j]:
                        r = j
                        break
                if r < 0:
                    stray[m] = addr
                    m += 1
                    r = 0
                    continue
            bit = range_off[r] + (addr - range_lo[r]) // line_bytes
            if bitmap[bit]:
                present += 1
            else:
                out[k] = addr
                k += 1
                if mark:
                    bitmap[bit] = 1
    return out[:k], present, stray[:m]
