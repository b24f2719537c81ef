/*
 * thermocline.sources.dynamodb_streams._speedups: the hot loop of stream decoding in C.
 *
 * Three entry points, each deciding only the well-formed common case and otherwise changing nothing, so the
 * pure-Python code they mirror stays the reference for every result (fastpath.py says which mirrors what;
 * tests/unit/test_speedups.py compares them on random, hostile and malformed input):
 *
 *   super_json(tag, value)             one AttributeValue payload as SUPER JSON text, or None;
 *   stage_row(image, plan, row, spill) one item image into its table's column lists, or False;
 *   decode_records(records, state)     a whole batch: envelope, routing and staging of every record it can
 *                                      decide, handing each other record to a Python callback.
 *
 * Everything read from a record is checked (types, sizes, digits) before use; a record that is anything
 * but the common case goes to the Python path, which produces the same result or the precise error.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_DEPTH 64
#define SEQ_WIDTH 40

#include "_super_json.h"
#include "_staging.h"

/* ------------------------------------------------------------------------------------------------------
 * A whole batch (mirrors decoder._Decoder.add for every record it can decide)
 */

/* Keys read from records, created once. */
static PyObject *K_EVENT_NAME, *K_DYNAMODB, *K_KEYS, *K_SEQUENCE_NUMBER, *K_CREATION_TIME, *K_ARN,
    *K_NEW_IMAGE, *K_OLD_IMAGE, *K_USER_IDENTITY, *K_TYPE, *K_PRINCIPAL_ID, *OP_I, *OP_U, *OP_D;

/* fnmatch's glob (contracts.model._pattern) over whole text: '*' any run of characters, '?' any one,
 * everything else itself. Patterns with '[' never reach here (the Python side passes their regex). */
#define GLOB_LOOP(READ_P, READ_T)                                                                        \
    while (ti < tn) {                                                                                    \
        Py_UCS4 pc = pi < pn ? READ_P(pi) : 0;                                                           \
        if (pi < pn && pc == '*') {                                                                      \
            star = pi++;                                                                                 \
            mark = ti;                                                                                   \
        } else if (pi < pn && (pc == '?' || pc == READ_T(ti))) {                                         \
            pi++;                                                                                        \
            ti++;                                                                                        \
        } else if (star >= 0) {                                                                          \
            pi = star + 1;                                                                               \
            ti = ++mark;                                                                                 \
        } else {                                                                                         \
            return 0;                                                                                    \
        }                                                                                                \
    }                                                                                                    \
    while (pi < pn && READ_P(pi) == '*') {                                                               \
        pi++;                                                                                            \
    }                                                                                                    \
    return pi == pn;

static int glob_match(PyObject *pattern, PyObject *text) {
    int pk = PyUnicode_KIND(pattern), tk = PyUnicode_KIND(text);
    const void *pd = PyUnicode_DATA(pattern), *td = PyUnicode_DATA(text);
    Py_ssize_t pn = PyUnicode_GET_LENGTH(pattern), tn = PyUnicode_GET_LENGTH(text);
    Py_ssize_t pi = 0, ti = 0, star = -1, mark = 0;
    if (pk == PyUnicode_1BYTE_KIND && tk == PyUnicode_1BYTE_KIND) {
        /* Keys are almost always one byte a character: read them directly. */
        const Py_UCS1 *p = pd, *t = td;
#define READ_P1(i) p[i]
#define READ_T1(i) t[i]
        GLOB_LOOP(READ_P1, READ_T1)
#undef READ_P1
#undef READ_T1
    }
#define READ_PN(i) PyUnicode_READ(pk, pd, i)
#define READ_TN(i) PyUnicode_READ(tk, td, i)
    GLOB_LOOP(READ_PN, READ_TN)
#undef READ_PN
#undef READ_TN
}
#undef GLOB_LOOP

/* Whether `keys` matches a route's matchers ((attribute, glob text or a regex's fullmatch), ...), as
 * Route.matches decides: 1 yes, 0 no, -1 undecided here (the record goes to Python). */
static int route_matches(PyObject *matchers, PyObject *keys) {
    if (!PyTuple_CheckExact(matchers)) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(matchers); i++) {
        PyObject *matcher = PyTuple_GET_ITEM(matchers, i);
        if (!PyTuple_CheckExact(matcher) || PyTuple_GET_SIZE(matcher) != 2) {
            return -1;
        }
        PyObject *av = PyDict_GetItemWithError(keys, PyTuple_GET_ITEM(matcher, 0));
        if (av == NULL) {
            if (PyErr_Occurred()) {
                return -1;
            }
            return 0; /* no such key: no text to match */
        }
        if (!PyDict_Check(av)) {
            return 0;
        }
        if (!PyDict_CheckExact(av)) {
            return -1;
        }
        if (PyDict_GET_SIZE(av) != 1) {
            return 0;
        }
        Py_ssize_t pos = 0;
        PyObject *tag, *value;
        PyDict_Next(av, &pos, &tag, &value);
        if (!PyUnicode_Check(value)) {
            return 0;
        }
        if (!PyUnicode_CheckExact(value)) {
            return -1;
        }
        PyObject *how = PyTuple_GET_ITEM(matcher, 1);
        int hit;
        if (PyUnicode_CheckExact(how)) {
            hit = glob_match(how, value);
        } else {
            Py_INCREF(how);
            Py_INCREF(value);
            PyObject *found = PyObject_CallOneArg(how, value);
            Py_DECREF(value);
            Py_DECREF(how);
            if (found == NULL) {
                return -1;
            }
            hit = found != Py_None;
            Py_DECREF(found);
        }
        if (!hit) {
            return 0;
        }
    }
    return 1;
}

/* The warehouse table of a record: a borrowed str, or NULL (undecided here). `entry` is the source table's
 * (source text, fixed target, routes, fallback) from fast_loop.arn_entry. */
static PyObject *route_record(PyObject *entry, PyObject *keys) {
    PyObject *fixed = PyTuple_GET_ITEM(entry, 1);
    if (fixed != Py_None) {
        return fixed;
    }
    PyObject *routes = PyTuple_GET_ITEM(entry, 2);
    if (!PyTuple_CheckExact(routes)) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(routes); i++) {
        PyObject *route = PyTuple_GET_ITEM(routes, i);
        if (!PyTuple_CheckExact(route) || PyTuple_GET_SIZE(route) != 2) {
            return NULL;
        }
        int m = route_matches(PyTuple_GET_ITEM(route, 1), keys);
        if (m < 0) {
            PyErr_Clear();
            return NULL;
        }
        if (m) {
            return PyTuple_GET_ITEM(route, 0);
        }
    }
    PyObject *fallback = PyTuple_GET_ITEM(entry, 3);
    return fallback == Py_None ? NULL : fallback;
}

/* A field of a dict, borrowed; NULL when absent (or on an error, cleared: the record goes to Python). */
static PyObject *field(PyObject *d, PyObject *key) {
    PyObject *v = PyDict_GetItemWithError(d, key);
    if (v == NULL) {
        PyErr_Clear();
    }
    return v;
}

/* ApproximateCreationDateTime (epoch seconds, int or float, years 1 to 9999) → microseconds as
 * envelope._event_time_us computes them; None when absent. NULL (no error set) when undecided here. */
static PyObject *event_time_us(PyObject *when) {
    const double lo = -62135596800.0, hi = 253402300799.0; /* envelope.MIN_EPOCH_S, MAX_EPOCH_S */
    if (when == NULL || when == Py_None) {
        return Py_NewRef(Py_None);
    }
    if (PyLong_CheckExact(when)) {
        int overflow = 0;
        long long s = PyLong_AsLongLongAndOverflow(when, &overflow);
        if (overflow || (s == -1 && PyErr_Occurred()) || s < (long long)lo || s > (long long)hi) {
            PyErr_Clear();
            return NULL;
        }
        return PyLong_FromLongLong(s * 1000000LL);
    }
    if (PyFloat_CheckExact(when)) {
        double x = PyFloat_AS_DOUBLE(when);
        if (!(x >= lo && x <= hi)) {
            return NULL;
        }
        /* round(x * 1_000_000), halves to even as Python rounds; |y| < 2**63, and y - t is exact (no libm:
         * the extension links nothing but the C library Lambda's runtime has). */
        double y = x * 1000000.0;
        long long t = (long long)y;
        double frac = y - (double)t;
        if (frac > 0.5 || (frac == 0.5 && (t & 1))) {
            t += 1;
        } else if (frac < -0.5 || (frac == -0.5 && (t & 1))) {
            t -= 1;
        }
        return PyLong_FromLongLong(t);
    }
    return NULL;
}

/* TTL deletes: userIdentity {type: Service, principalId: dynamodb.amazonaws.com} (envelope._is_ttl_delete).
 * 1 / 0, or -1 when undecided here. */
static int is_ttl_delete(PyObject *record) {
    PyObject *identity = field(record, K_USER_IDENTITY);
    if (identity == NULL || !PyDict_Check(identity)) {
        return 0;
    }
    if (!PyDict_CheckExact(identity)) {
        return -1;
    }
    PyObject *type = field(identity, K_TYPE), *principal = field(identity, K_PRINCIPAL_ID);
    if ((type != NULL && !PyUnicode_CheckExact(type)) || (principal != NULL && !PyUnicode_CheckExact(principal))) {
        return -1;
    }
    if (type == NULL || principal == NULL) {
        return PyDict_GET_SIZE(identity) == 0 ? 0 : -1; /* the Streams API's Type/PrincipalId: Python reads both */
    }
    return PyUnicode_CompareWithASCIIString(type, "Service") == 0 &&
           PyUnicode_CompareWithASCIIString(principal, "dynamodb.amazonaws.com") == 0;
}

/* A table's state as fast_loop._sink lays it out: lists, but column buffers for _seq and _event_time. */
enum { S_PLAN, S_KEYS, S_OVERFLOW, S_OP, S_SEQ, S_SEQ_ORIGINAL, S_EVENT_TIME, S_TTL, S_SOURCE, S_INDEX, S_SIZE };
#define S_FIRST_LIST S_OVERFLOW

static int sink_ok(PyObject *sink, Py_ssize_t *row) {
    if (!PyTuple_CheckExact(sink) || PyTuple_GET_SIZE(sink) != S_SIZE ||
        !PyDict_CheckExact(PyTuple_GET_ITEM(sink, S_PLAN)) || !PyTuple_CheckExact(PyTuple_GET_ITEM(sink, S_KEYS))) {
        return 0;
    }
    *row = -1;
    for (int k = S_FIRST_LIST; k < S_SIZE; k++) {
        PyObject *list = PyTuple_GET_ITEM(sink, k);
        if (k == S_SEQ || k == S_EVENT_TIME) {
            continue; /* column buffers, checked below */
        }
        if (!PyList_CheckExact(list)) {
            return 0;
        }
        if (*row < 0) {
            *row = PyList_GET_SIZE(list);
        } else if (PyList_GET_SIZE(list) != *row) {
            return 0;
        }
    }
    PyObject *seqs = PyTuple_GET_ITEM(sink, S_SEQ), *times = PyTuple_GET_ITEM(sink, S_EVENT_TIME);
    if (!Py_IS_TYPE(seqs, &ColumnBufferType) || ((ColumnBuffer *)seqs)->storage != CB_TEXT ||
        ((ColumnBuffer *)seqs)->rows > *row || !Py_IS_TYPE(times, &ColumnBufferType) ||
        ((ColumnBuffer *)times)->storage != CB_INT64 || ((ColumnBuffer *)times)->rows > *row) {
        return 0;
    }
    PyObject *keys = PyTuple_GET_ITEM(sink, S_KEYS);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(keys); k++) {
        if (!PyList_CheckExact(PyTuple_GET_ITEM(keys, k))) {
            return 0;
        }
    }
    return 1;
}

/* One record: 1 decoded, 0 left to Python (nothing changed), -1 error (an exception is set), NEEDS_OPEN: C
 * could decide it but for its source table's routes or its warehouse table's sink, which the Python path
 * makes when it opens the record (fast_loop's open_table); nothing changed. */
#define NEEDS_OPEN 2
static int decode_one(PyObject *record, Py_ssize_t index, PyObject *arn_routes, PyObject *sinks, Py_ssize_t spill,
                      Touched *touched, Overflow *ov, Py_ssize_t *overflow_values, long long *oldest,
                      int *have_oldest) {
    if (!PyDict_CheckExact(record)) {
        return 0;
    }
    PyObject *body = field(record, K_DYNAMODB);
    if (body == NULL || !PyDict_CheckExact(body)) {
        return 0;
    }
    PyObject *keys = field(body, K_KEYS);
    if (keys == NULL || !PyDict_CheckExact(keys) || PyDict_GET_SIZE(keys) == 0) {
        return 0;
    }
    PyObject *name = field(record, K_EVENT_NAME), *op;
    if (name == NULL || !PyUnicode_CheckExact(name)) {
        return 0;
    }
    if (PyUnicode_CompareWithASCIIString(name, "INSERT") == 0) {
        op = OP_I;
    } else if (PyUnicode_CompareWithASCIIString(name, "MODIFY") == 0) {
        op = OP_U;
    } else if (PyUnicode_CompareWithASCIIString(name, "REMOVE") == 0) {
        op = OP_D;
    } else {
        return 0;
    }
    PyObject *seq = field(body, K_SEQUENCE_NUMBER);
    Py_ssize_t seq_len;
    const char *digits = seq == NULL ? NULL : ascii_text(seq, &seq_len);
    if (digits == NULL || seq_len < 1 || seq_len > SEQ_WIDTH) {
        return 0;
    }
    for (Py_ssize_t k = 0; k < seq_len; k++) {
        if (digits[k] < '0' || digits[k] > '9') {
            return 0;
        }
    }
    PyObject *arn = field(record, K_ARN);
    if (arn == NULL || !PyUnicode_CheckExact(arn)) {
        return 0;
    }
    PyObject *entry = field(arn_routes, arn); /* NULL: the source table's first record (NEEDS_OPEN below) */
    if (entry != NULL && (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4 ||
                          !PyUnicode_CheckExact(PyTuple_GET_ITEM(entry, 0)))) {
        return 0;
    }
    PyObject *image;
    int ttl = 0;
    if (op == OP_D) {
        PyObject *old = field(body, K_OLD_IMAGE);
        if (old == NULL || old == Py_None || (PyDict_CheckExact(old) && PyDict_GET_SIZE(old) == 0)) {
            image = keys;
        } else if (PyDict_CheckExact(old)) {
            image = old;
        } else {
            return 0;
        }
        ttl = is_ttl_delete(record);
        if (ttl < 0) {
            return 0;
        }
    } else {
        image = field(body, K_NEW_IMAGE);
        if (image == NULL || !PyDict_CheckExact(image) || PyDict_GET_SIZE(image) == 0) {
            return 0; /* no new image: quarantined by the Python path, with its reason */
        }
    }
    if (image != keys) {
        /* A key missing from the image is added to it by the Python path. */
        Py_ssize_t pos = 0;
        PyObject *key, *value;
        while (PyDict_Next(keys, &pos, &key, &value)) {
            int has = PyDict_Contains(image, key);
            if (has != 1) {
                PyErr_Clear();
                return 0;
            }
        }
    }
    if (entry == NULL) {
        return NEEDS_OPEN;
    }
    /* Everything the route and staging may call (regex matchers, converters) is held while they run. */
    int result = 0;
    Py_INCREF(entry);
    Py_INCREF(keys);
    Py_INCREF(image);
    Py_INCREF(body);
    PyObject *event_us = event_time_us(field(body, K_CREATION_TIME));
    PyObject *table = event_us == NULL ? NULL : route_record(entry, keys);
    PyObject *sink = table == NULL ? NULL : field(sinks, table);
    Py_ssize_t row;
    if (event_us != NULL && sink == NULL) {
        /* No table yet (a contract's fallback not named yet) or no batch for it: the Python path opens it. */
        result = NEEDS_OPEN;
        goto done;
    }
    if (sink == NULL || !sink_ok(sink, &row)) {
        goto done;
    }
    Py_INCREF(sink);
    ov->keys = PyTuple_GET_ITEM(sink, S_KEYS);
    ov->table = table;
    ov->added = 0;
    ov->text.len = 0;
    ov->text.utf8 = 0;
    ov->entries = 0;
    if (!stage_image(image, PyTuple_GET_ITEM(sink, S_PLAN), row, spill, touched, ov)) {
        Py_DECREF(sink);
        goto done;
    }
    PyObject *overflow = Py_None;
    if (ov->entries) {
        /* A row whose _overflow exceeds what a warehouse stages has values moved out: Python does that. */
        if (buf_char(&ov->text, '}') < 0 || (spill >= 0 && ov->text.len > spill) ||
            (overflow = buf_text(&ov->text)) == NULL) {
            PyErr_Clear();
            cut_back(touched->lists, touched->n, row);
            Py_DECREF(sink);
            goto done;
        }
    } else {
        Py_INCREF(overflow);
    }
    /* A row without its primary key cannot be merged: the Python path quarantines it (_missing_key). */
    PyObject *pk = PyTuple_GET_ITEM(sink, S_KEYS);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(pk); k++) {
        PyObject *values = PyTuple_GET_ITEM(pk, k);
        if (PyList_GET_SIZE(values) <= row || PyList_GET_ITEM(values, row) == Py_None) {
            cut_back(touched->lists, touched->n, row);
            Py_DECREF(overflow);
            Py_DECREF(sink);
            goto done;
        }
    }
    /* _seq (padded) and _event_time go straight into their column buffers; the rest into the lists. */
    char padded[SEQ_WIDTH];
    memset(padded, '0', (size_t)(SEQ_WIDTH - seq_len));
    memcpy(padded + SEQ_WIDTH - seq_len, digits, (size_t)seq_len);
    ColumnBuffer *seqs = (ColumnBuffer *)PyTuple_GET_ITEM(sink, S_SEQ);
    ColumnBuffer *times = (ColumnBuffer *)PyTuple_GET_ITEM(sink, S_EVENT_TIME);
    long long us = event_us == Py_None ? 0 : PyLong_AsLongLong(event_us);
    PyObject *position = PyLong_FromSsize_t(index);
    PyObject *row_values[S_SIZE] = {
        NULL, NULL, overflow, op, NULL, seq, NULL, ttl ? Py_True : Py_False, PyTuple_GET_ITEM(entry, 0), position,
    };
    int k = S_FIRST_LIST;
    if (position == NULL || cb_put_bytes(seqs, row, padded, SEQ_WIDTH) < 0 ||
        (event_us != Py_None && cb_put_int64(times, row, us) < 0)) {
        k = -1;
    }
    for (; k >= 0 && k < S_SIZE; k++) {
        if (row_values[k] != NULL && PyList_Append(PyTuple_GET_ITEM(sink, k), row_values[k]) < 0) {
            break;
        }
    }
    Py_XDECREF(position);
    Py_DECREF(overflow);
    if (k < S_SIZE) {
        for (int j = S_FIRST_LIST; j < S_SIZE; j++) {
            PyObject *list = PyTuple_GET_ITEM(sink, j);
            if (row_values[j] != NULL && PyList_GET_SIZE(list) > row) {
                PyList_SetSlice(list, row, PyList_GET_SIZE(list), NULL);
            }
        }
        cb_truncate(seqs, row);
        cb_truncate(times, row);
        cut_back(touched->lists, touched->n, row);
        Py_DECREF(sink);
        result = -1;
        goto done;
    }
    Py_DECREF(sink);
    *overflow_values += ov->entries;
    if (event_us != Py_None) {
        if (!*have_oldest || us < *oldest) {
            *oldest = us;
            *have_oldest = 1;
        }
    }
    result = 1;
done:
    if (ov->added && result >= 0) {
        /* Keep the columns the record recorded, or forget them: the Python path then decides it whole. */
        PyErr_Clear();
        PyObject *call_args[2] = {ov->table, result == 1 ? Py_True : Py_False};
        PyObject *done = PyObject_Vectorcall(ov->settle, call_args, 2, NULL);
        result = done == NULL ? -1 : result;
        Py_XDECREF(done);
    }
    ov->added = 0;
    Py_XDECREF(event_us);
    Py_DECREF(body);
    Py_DECREF(image);
    Py_DECREF(keys);
    Py_DECREF(entry);
    if (result == 0 || result == NEEDS_OPEN) {
        PyErr_Clear();
    }
    return result;
}

/* The state decode_records works from: fast_loop.py builds and refreshes it; decode_records adds the
 * oldest event time and the count of values it kept in _overflow. */
enum {
    ST_ARN_ROUTES,
    ST_SINKS,
    ST_OLDEST,
    ST_SPILL,
    ST_DEFER,
    ST_OVERFLOW_CLASS,
    ST_WIDEN,
    ST_OVERFLOWED,
    ST_NEW_COLUMN,
    ST_SETTLE,
    ST_OPEN,
    ST_SIZE
};

/* Call state's callback `slot` with (index, record): a new reference, or NULL with an exception set. */
static PyObject *call_back(PyObject *state, int slot, Py_ssize_t index, PyObject *record) {
    PyObject *callback = Py_NewRef(PyList_GET_ITEM(state, slot));
    PyObject *position = PyLong_FromSsize_t(index);
    PyObject *call_args[2] = {position, record};
    PyObject *done = position == NULL ? NULL : PyObject_Vectorcall(callback, call_args, 2, NULL);
    Py_XDECREF(position);
    Py_DECREF(callback);
    return done;
}

/* decode_records(records, state) -> None: decode every record of the batch that decode_one decides, and
 * hand every other one to state's defer(index, record) (decoder._Decoder.add, which then refreshes the
 * state), in record order. A record that needs its table opened first goes to state's open_table(index,
 * record): True, it is decided again (and deferred if C still cannot); False, the Python path rejected it. */
static PyObject *decode_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1]) ||
        PyList_GET_SIZE(args[1]) != ST_SIZE) {
        PyErr_SetString(PyExc_TypeError, "decode_records(records: list, state: list)");
        return NULL;
    }
    PyObject *records = args[0], *state = args[1];
    Touched touched = {NULL, 0, 0};
    Overflow ov = {PyList_GET_ITEM(state, ST_OVERFLOW_CLASS), PyList_GET_ITEM(state, ST_WIDEN), NULL, {NULL, 0, 0, 0}, 0,
                   PyList_GET_ITEM(state, ST_NEW_COLUMN), PyList_GET_ITEM(state, ST_SETTLE), NULL, 0};
    Py_ssize_t overflowed = 0;
    long long oldest = 0;
    int have_oldest = 0;
    if (!PyType_Check(ov.overflow_class) || !PyCallable_Check(ov.widen) || !PyCallable_Check(ov.new_column) ||
        !PyCallable_Check(ov.settle)) {
        PyErr_SetString(PyExc_TypeError, "decode_records: state holds no overflow class and widen, new column and "
                                         "settle functions");
        return NULL;
    }
    /* Held for the whole batch: the state list is Python's, and the defer callback runs Python code. */
    Py_INCREF(ov.overflow_class);
    Py_INCREF(ov.widen);
    Py_INCREF(ov.new_column);
    Py_INCREF(ov.settle);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records); i++) {
        PyObject *arn_routes = PyList_GET_ITEM(state, ST_ARN_ROUTES), *sinks = PyList_GET_ITEM(state, ST_SINKS);
        PyObject *spill_obj = PyList_GET_ITEM(state, ST_SPILL);
        if (!PyDict_CheckExact(arn_routes) || !PyDict_CheckExact(sinks)) {
            PyErr_SetString(PyExc_TypeError, "decode_records: state holds no route and sink dicts");
            goto fail;
        }
        Py_ssize_t spill = spill_obj == Py_None ? -1 : PyLong_AsSsize_t(spill_obj);
        if (spill == -1 && PyErr_Occurred()) {
            goto fail;
        }
        PyObject *record = Py_NewRef(PyList_GET_ITEM(records, i));
        Py_INCREF(arn_routes);
        Py_INCREF(sinks);
        int rc = decode_one(record, i, arn_routes, sinks, spill, &touched, &ov, &overflowed, &oldest, &have_oldest);
        if (rc == NEEDS_OPEN) {
            PyObject *opened = call_back(state, ST_OPEN, i, record);
            if (opened == Py_True) {
                /* The callback refreshed the route and sink dicts in place (the state holds the same ones). */
                rc = decode_one(record, i, arn_routes, sinks, spill, &touched, &ov, &overflowed, &oldest, &have_oldest);
                rc = rc == NEEDS_OPEN ? 0 : rc;
            } else if (opened == Py_False) {
                rc = 1; /* rejected by the Python path, as it would have in defer */
            } else {
                if (opened != NULL) {
                    PyErr_SetString(PyExc_TypeError, "decode_records: open_table returned no bool");
                }
                rc = -1;
            }
            Py_XDECREF(opened);
        }
        Py_DECREF(sinks);
        Py_DECREF(arn_routes);
        if (rc == 0) {
            PyObject *done = call_back(state, ST_DEFER, i, record);
            if (done == NULL) {
                rc = -1;
            }
            Py_XDECREF(done);
        }
        Py_DECREF(record);
        if (rc < 0) {
            goto fail;
        }
    }
    if (have_oldest) {
        PyObject *current = PyList_GET_ITEM(state, ST_OLDEST);
        long long was = current == Py_None ? 0 : PyLong_AsLongLong(current);
        if (was == -1 && PyErr_Occurred()) {
            goto fail;
        }
        if (current == Py_None || oldest < was) {
            PyObject *value = PyLong_FromLongLong(oldest);
            if (value == NULL || PyList_SetItem(state, ST_OLDEST, value) < 0) {
                goto fail;
            }
        }
    }
    PyObject *count = PyLong_FromSsize_t(overflowed);
    if (count == NULL || PyList_SetItem(state, ST_OVERFLOWED, count) < 0) {
        goto fail;
    }
    PyMem_Free(touched.lists);
    PyMem_Free(ov.text.data);
    Py_DECREF(ov.overflow_class);
    Py_DECREF(ov.widen);
    Py_DECREF(ov.new_column);
    Py_DECREF(ov.settle);
    Py_RETURN_NONE;
fail:
    PyMem_Free(touched.lists);
    PyMem_Free(ov.text.data);
    Py_DECREF(ov.overflow_class);
    Py_DECREF(ov.widen);
    Py_DECREF(ov.new_column);
    Py_DECREF(ov.settle);
    return NULL;
}

/* route_records(records, state) -> None: the warehouse table of every record, as envelope.target_tables
 * decides them, added to state's set; a record not decided here goes to state's defer(index, record). The
 * state is [arn routes (as decode_records reads them), the set, defer]. */
static PyObject *route_records(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyList_CheckExact(args[0]) || !PyList_CheckExact(args[1]) || PyList_GET_SIZE(args[1]) != 3 ||
        !PyDict_CheckExact(PyList_GET_ITEM(args[1], 0)) || !PySet_Check(PyList_GET_ITEM(args[1], 1))) {
        PyErr_SetString(PyExc_TypeError, "route_records(records: list, [arn routes, targets, defer])");
        return NULL;
    }
    PyObject *records = args[0], *state = args[1];
    PyObject *arn_routes = Py_NewRef(PyList_GET_ITEM(state, 0)), *targets = Py_NewRef(PyList_GET_ITEM(state, 1));
    PyObject *defer = Py_NewRef(PyList_GET_ITEM(state, 2));
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(records) && !failed; i++) {
        PyObject *record = Py_NewRef(PyList_GET_ITEM(records, i));
        PyObject *table = NULL, *entry = NULL, *keys = NULL;
        if (PyDict_CheckExact(record)) {
            PyObject *body = field(record, K_DYNAMODB), *arn = field(record, K_ARN);
            keys = body != NULL && PyDict_CheckExact(body) ? field(body, K_KEYS) : NULL;
            entry = arn != NULL && PyUnicode_CheckExact(arn) ? field(arn_routes, arn) : NULL;
            if (keys != NULL && PyDict_CheckExact(keys) && PyDict_GET_SIZE(keys) > 0 && entry != NULL &&
                PyTuple_CheckExact(entry) && PyTuple_GET_SIZE(entry) == 4) {
                Py_INCREF(entry);
                Py_INCREF(keys);
                table = route_record(entry, keys);
                if (table != NULL) {
                    Py_INCREF(table);
                }
                Py_DECREF(keys);
                Py_DECREF(entry);
            }
        }
        if (table != NULL) {
            failed = PySet_Add(targets, table) < 0;
            Py_DECREF(table);
        } else {
            PyErr_Clear();
            PyObject *position = PyLong_FromSsize_t(i);
            PyObject *call_args[2] = {position, record};
            PyObject *done = position == NULL ? NULL : PyObject_Vectorcall(defer, call_args, 2, NULL);
            Py_XDECREF(position);
            failed = done == NULL;
            Py_XDECREF(done);
        }
        Py_DECREF(record);
    }
    Py_DECREF(arn_routes);
    Py_DECREF(targets);
    Py_DECREF(defer);
    if (failed) {
        return NULL;
    }
    Py_RETURN_NONE;
}

#include "_arrow_build.h"

static PyMethodDef methods[] = {
    {"super_json", (PyCFunction)(void (*)(void))super_json, METH_FASTCALL,
     "super_json(tag, value) -> str | None: a DynamoDB AttributeValue payload as JSON text, or None when "
     "the pure-Python path must decide."},
    {"stage_row", (PyCFunction)(void (*)(void))stage_row, METH_FASTCALL,
     "stage_row(image, plan, row, spill) -> bool: stage one record on the fast paths, or change nothing."},
    {"arrow_table", (PyCFunction)(void (*)(void))arrow_table, METH_FASTCALL,
     "arrow_table(columns, n) -> capsule | None: a table's columns as one Arrow C data interface array."},
    {"decode_records", (PyCFunction)(void (*)(void))decode_records, METH_FASTCALL,
     "decode_records(records, state) -> None: decode a batch, handing undecided records to state's defer."},
    {"route_records", (PyCFunction)(void (*)(void))route_records, METH_FASTCALL,
     "route_records(records, [arn routes, targets, defer]) -> None: every record's warehouse table."},
    {"arrow_column", (PyCFunction)(void (*)(void))arrow_column, METH_FASTCALL,
     "arrow_column(values, n, kind, precision, scale) -> (null_count, buffers) | None: a column's Arrow buffers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "thermocline.sources.dynamodb_streams._speedups", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

static int intern_all(void) {
    struct {
        PyObject **slot;
        const char *text;
    } names[] = {
        {&K_EVENT_NAME, "eventName"}, {&K_DYNAMODB, "dynamodb"}, {&K_KEYS, "Keys"},
        {&K_SEQUENCE_NUMBER, "SequenceNumber"}, {&K_CREATION_TIME, "ApproximateCreationDateTime"},
        {&K_ARN, "eventSourceARN"}, {&K_NEW_IMAGE, "NewImage"}, {&K_OLD_IMAGE, "OldImage"},
        {&K_USER_IDENTITY, "userIdentity"}, {&K_TYPE, "type"}, {&K_PRINCIPAL_ID, "principalId"},
        {&OP_I, "I"}, {&OP_U, "U"}, {&OP_D, "D"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (*names[i].slot == NULL && (*names[i].slot = PyUnicode_InternFromString(names[i].text)) == NULL) {
            return -1;
        }
    }
    return 0;
}

PyMODINIT_FUNC PyInit__speedups(void) {
    POW10[0] = 1;
    for (int k = 1; k < 39; k++) {
        POW10[k] = POW10[k - 1] * 10;
    }
    if (intern_all() < 0) {
        return NULL;
    }
    for (int k = 0; k < NONE_RUNS; k++) {
        if (NONES[k] == NULL) {
            Py_ssize_t n = (Py_ssize_t)1 << k;
            if ((NONES[k] = PyTuple_New(n)) == NULL) {
                return NULL;
            }
            for (Py_ssize_t i = 0; i < n; i++) {
                PyTuple_SET_ITEM(NONES[k], i, Py_NewRef(Py_None));
            }
        }
    }
    if (PyType_Ready(&ColumnBufferType) < 0) {
        return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddObjectRef(m, "ColumnBuffer", (PyObject *)&ColumnBufferType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
