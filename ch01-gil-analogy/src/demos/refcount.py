# Section 1.5 in CPython: every object carries a reference count, which sys.getrefcount shows
# (one more than the references we hold: its own argument is one). The object is freed the moment
# the count reaches zero; weakref.finalize notes when.
import sys
import weakref


class Object:
    pass


references = int(ARGS[0])
freed = []
held = [Object()]
weakref.finalize(held[0], freed.append, "freed")
counts = [sys.getrefcount(held[0])]
while len(held) < references:
    held.append(held[0])  # one more reference: the count rises
    counts.append(sys.getrefcount(held[0]))
drops = 0
while held:
    held.pop()  # one reference fewer: the count falls, and at zero the object goes
    drops += 1
    if held:
        counts.append(sys.getrefcount(held[0]))
    elif freed:
        freed_after_drops = drops
answer({"name": "cpython_refcount", "references": references,
        "counts": " ".join(map(str, counts)), "freed_after_drops": freed_after_drops,
        "frees": len(freed)})
