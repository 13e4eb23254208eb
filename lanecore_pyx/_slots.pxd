# cython: language_level=3
"""Direct access to ``__slots__`` members of Python classes by their offset.

A slot of a Python class is a member descriptor that reads and writes an object pointer at a
fixed offset in the instance; reading that offset once and using it directly saves the
attribute lookup on the hot path. Only classes whose layout we own use this (CommandHandle
and the manager's lane records), and every offset is checked at start-up. ``steal_ref`` hands
an owned ``PyObject*`` (from a ring buffer or a C API out-parameter) to Cython.
"""

from cpython.object cimport PyObject


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    void lc_slot_incref "Py_INCREF"(PyObject* o) noexcept
    void lc_slot_xdecref "Py_XDECREF"(PyObject* o) noexcept

cdef extern from *:
    """
    /* Hand an owned reference to Cython as the function's (new) reference: a steal. */
    static CYTHON_INLINE PyObject* lanecore_steal(PyObject* o) { return o; }
    """
    object steal_ref "lanecore_steal"(PyObject* o)


cdef inline Py_ssize_t slot_offset(type cls, str name) except -1:
    """The instance offset of the __slots__ member ``name`` of ``cls``."""
    descr = None
    for klass in cls.__mro__:
        descr = klass.__dict__.get(name)
        if descr is not None:
            break
    if descr is None or type(descr).__name__ != "member_descriptor":
        raise TypeError(f"{cls.__qualname__}.{name} is not a __slots__ member")
    return (<PyMemberDescrObject*>descr).d_member.offset


cdef inline object slot_get(object obj, Py_ssize_t offset):
    """The slot's value; None when it was never set."""
    cdef PyObject* value = (<PyObject**>((<char*><PyObject*>obj) + offset))[0]
    if value == NULL:
        return None
    return <object>value


cdef inline PyObject* slot_ptr(object obj, Py_ssize_t offset) noexcept:
    """The slot's value as a borrowed pointer (NULL when it was never set)."""
    return (<PyObject**>((<char*><PyObject*>obj) + offset))[0]


cdef inline void slot_set(object obj, Py_ssize_t offset, object value) noexcept:
    """Store value in the slot, releasing what it held."""
    cdef PyObject** field = <PyObject**>((<char*><PyObject*>obj) + offset)
    cdef PyObject* old = field[0]
    lc_slot_incref(<PyObject*>value)
    field[0] = <PyObject*>value
    lc_slot_xdecref(old)
