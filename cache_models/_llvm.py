"""Small LLVM intrinsics numba does not expose: a software prefetch.

Random line streams are bound by the latency of fetching a set's row; the
kernels know the next addresses, so they ask for those rows early.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to load the cache line holding `arr[idx]` (1-D array, no bounds check).

    A prefetch never faults, so an index past the end is harmless.
    """
    if not isinstance(arr, types.Array) or arr.ndim != 1 or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], idxty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index], wraparound=False,
                                       boundscheck=False)
        i8p = ir.PointerType(ir.IntType(8))
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read access, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


def _bit_intrinsic(llvm_name: str):
    def impl(typingctx, x):
        if not isinstance(x, types.Integer):
            return None
        sig = types.int64(x)

        def codegen(context, builder, signature, args):
            v = context.cast(builder, args[0], signature.args[0], types.int64)
            i64 = ir.IntType(64)
            if llvm_name == "cttz":
                fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
                fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
                return builder.call(fn, [v, ir.Constant(ir.IntType(1), 0)])
            fnty = ir.FunctionType(i64, [i64])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.ctpop.i64")
            return builder.call(fn, [v])

        return sig, codegen

    return impl


# lowest set bit's index (64 for 0), and the number of set bits, of an int64
cttz = intrinsic(_bit_intrinsic("cttz"))
popcount = intrinsic(_bit_intrinsic("ctpop"))
