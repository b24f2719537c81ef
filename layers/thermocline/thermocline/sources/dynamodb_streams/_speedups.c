/*
 * thermocline.sources.dynamodb_streams._speedups: the hot loop of stream decoding in C.
 *
 * super_json(tag, value) turns one DynamoDB AttributeValue payload into JSON text (the SUPER representation),
 * exactly as super_json._json_value does, for the well-formed common case only: ASCII strings and map
 * keys, numbers already in JSON number syntax, booleans, nulls, maps, lists and string/number sets. For
 * anything else (non-ASCII text, binary, numbers to re-spell, malformed payloads, very deep nesting) it
 * returns None and the caller takes the pure-Python path, which produces the same text or the precise error.
 * So this module can only make decoding faster, never different; tests compare the two on random items.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    char *data = PyMem_Realloc(b->data, (size_t)cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, s, (size_t)n);
    b->len += n;
    return 0;
}

static int buf_char(Buf *b, char c) {
    if (buf_reserve(b, 1) < 0) {
        return -1;
    }
    b->data[b->len++] = c;
    return 0;
}

/* Result codes of the encoders: OK, FALLBACK (let Python do it), ERROR (a Python exception is set). */
enum { OK = 0, FALLBACK = 1, ERROR = -1 };

/* An ASCII str as a JSON string literal, escaped as json.encoder.encode_basestring does. */
static int put_string(Buf *b, PyObject *s) {
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s)) {
        return FALLBACK;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const unsigned char *p = PyUnicode_1BYTE_DATA(s);
    /* Worst case every character becomes \u00XX. */
    if (buf_reserve(b, n * 6 + 2) < 0) {
        return ERROR;
    }
    char *out = b->data + b->len;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        default: {
            static const char hex[] = "0123456789abcdef";
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 0xf];
        }
        }
    }
    *out++ = '"';
    b->len = out - b->data;
    return OK;
}

/* An N value already in JSON number syntax: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int put_number(Buf *b, PyObject *s) {
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s)) {
        return FALLBACK;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const char *p = (const char *)PyUnicode_1BYTE_DATA(s);
    Py_ssize_t i = 0;
    if (i < n && p[i] == '-') {
        i++;
    }
    if (i >= n) {
        return FALLBACK;
    }
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
    } else {
        return FALLBACK;
    }
    if (i < n && p[i] == '.') {
        i++;
        Py_ssize_t start = i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == start) {
            return FALLBACK;
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            i++;
        }
        Py_ssize_t start = i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == start) {
            return FALLBACK;
        }
    }
    if (i != n) {
        return FALLBACK;
    }
    return buf_put(b, p, n) < 0 ? ERROR : OK;
}

static int put_value(Buf *b, PyObject *tag, PyObject *value, int depth);

/* One AttributeValue {tag: payload}: exactly one entry with a str tag. */
static int put_attribute(Buf *b, PyObject *av, int depth) {
    if (!PyDict_CheckExact(av) || PyDict_GET_SIZE(av) != 1) {
        return FALLBACK;
    }
    Py_ssize_t pos = 0;
    PyObject *tag, *value;
    PyDict_Next(av, &pos, &tag, &value);
    return put_value(b, tag, value, depth);
}

/* Encoders of one list element: an ASCII string, a number, or a nested AttributeValue. */
enum { ITEM_STRING, ITEM_NUMBER, ITEM_ATTRIBUTE };

/* A JSON array of a list's elements (L, SS, NS). */
static int put_array(Buf *b, PyObject *value, int item, int depth) {
    if (!PyList_CheckExact(value)) {
        return FALLBACK;
    }
    if (buf_char(b, '[') < 0) {
        return ERROR;
    }
    Py_ssize_t n = PyList_GET_SIZE(value);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && buf_char(b, ',') < 0) {
            return ERROR;
        }
        PyObject *element = PyList_GET_ITEM(value, i);
        int rc = item == ITEM_STRING   ? put_string(b, element)
                 : item == ITEM_NUMBER ? put_number(b, element)
                                       : put_attribute(b, element, depth + 1);
        if (rc != OK) {
            return rc;
        }
    }
    return buf_char(b, ']') < 0 ? ERROR : OK;
}

static int tag_is(PyObject *tag, const char *name) {
    return PyUnicode_CompareWithASCIIString(tag, name) == 0;
}

static int put_value(Buf *b, PyObject *tag, PyObject *value, int depth) {
    if (depth > MAX_DEPTH || !PyUnicode_CheckExact(tag) || !PyUnicode_IS_ASCII(tag)) {
        return FALLBACK;
    }
    Py_ssize_t tlen = PyUnicode_GET_LENGTH(tag);
    const char *t = (const char *)PyUnicode_1BYTE_DATA(tag);
    if (tlen == 1) {
        switch (t[0]) {
        case 'S':
            return put_string(b, value);
        case 'N':
            return put_number(b, value);
        case 'M': {
            if (!PyDict_CheckExact(value)) {
                return FALLBACK;
            }
            if (buf_char(b, '{') < 0) {
                return ERROR;
            }
            Py_ssize_t pos = 0;
            PyObject *key, *av;
            int first = 1;
            while (PyDict_Next(value, &pos, &key, &av)) {
                if (!first && buf_char(b, ',') < 0) {
                    return ERROR;
                }
                first = 0;
                int rc = put_string(b, key);
                if (rc != OK) {
                    return rc;
                }
                if (buf_char(b, ':') < 0) {
                    return ERROR;
                }
                rc = put_attribute(b, av, depth + 1);
                if (rc != OK) {
                    return rc;
                }
            }
            return buf_char(b, '}') < 0 ? ERROR : OK;
        }
        case 'L':
            return put_array(b, value, ITEM_ATTRIBUTE, depth);
        default:
            return FALLBACK;
        }
    }
    if (tag_is(tag, "BOOL")) {
        if (value == Py_True) {
            return buf_put(b, "true", 4) < 0 ? ERROR : OK;
        }
        if (value == Py_False) {
            return buf_put(b, "false", 5) < 0 ? ERROR : OK;
        }
        return FALLBACK;
    }
    if (tag_is(tag, "NULL")) {
        return buf_put(b, "null", 4) < 0 ? ERROR : OK;
    }
    if (tag_is(tag, "SS")) {
        return put_array(b, value, ITEM_STRING, depth);
    }
    if (tag_is(tag, "NS")) {
        return put_array(b, value, ITEM_NUMBER, depth);
    }
    return FALLBACK;
}

static PyObject *super_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "super_json(tag, value) takes two arguments");
        return NULL;
    }
    Buf b = {NULL, 0, 0};
    int rc = put_value(&b, args[0], args[1], 0);
    PyObject *result;
    if (rc == OK) {
        result = PyUnicode_DecodeASCII(b.data, b.len, "strict");
    } else if (rc == FALLBACK) {
        result = Py_NewRef(Py_None);
    } else {
        result = NULL;
    }
    PyMem_Free(b.data);
    return result;
}


/* Truncate every list touched by a fallen-back record to `row`, so the Python path starts clean. */
static void restore(PyObject **touched, Py_ssize_t ntouched, Py_ssize_t row) {
    for (Py_ssize_t i = 0; i < ntouched; i++) {
        PyObject *values = touched[i];
        if (PyList_GET_SIZE(values) > row) {
            PyList_SetSlice(values, row, PyList_GET_SIZE(values), NULL);
        }
    }
}

/* One attribute's converted value, as staging.stage_record computes it on its fast paths; NULL with no error
 * set means "fall back" (the caller clears any error a converter raised). */
static PyObject *stage_value(PyObject *entry, PyObject *tag, PyObject *value, Py_ssize_t spill) {
    PyObject *column = PyTuple_GET_ITEM(entry, 0);
    PyObject *convert = PyTuple_GET_ITEM(entry, 2);
    PyObject *fast_tag = PyTuple_GET_ITEM(entry, 3);
    PyObject *fast_check = PyTuple_GET_ITEM(entry, 4);
    if (!PyUnicode_CheckExact(fast_tag)) {
        return NULL;
    }
    if (PyUnicode_Compare(tag, fast_tag) == 0) {
        if (PyUnicode_GET_LENGTH(fast_tag) == 1 && PyUnicode_READ_CHAR(fast_tag, 0) == 'S') {
            if (PyLong_CheckExact(fast_check) && PyUnicode_CheckExact(value) && PyUnicode_IS_ASCII(value)) {
                Py_ssize_t limit = PyLong_AsSsize_t(fast_check);
                if (limit == -1 && PyErr_Occurred()) {
                    return NULL;
                }
                if (PyUnicode_GET_LENGTH(value) <= limit) {
                    return Py_NewRef(value);
                }
            }
        } else if (fast_check != Py_None) {
            PyObject *hit = PyObject_CallOneArg(fast_check, value);
            if (hit == NULL) {
                return NULL;
            }
            int truth = PyObject_IsTrue(hit);
            Py_DECREF(hit);
            if (truth < 0) {
                return NULL;
            }
            if (truth) {
                return Py_NewRef(value);
            }
        }
    } else if (fast_check == Py_None && !tag_is(tag, "NULL")) {
        Buf b = {NULL, 0, 0};
        int rc = put_value(&b, tag, value, 0);
        PyObject *text = NULL;
        /* A SUPER value that may exceed what a warehouse can stage is left to Python, which spills it. */
        if (rc == OK && (spill < 0 || b.len * 4 <= spill)) {
            text = PyUnicode_DecodeASCII(b.data, b.len, "strict");
        }
        PyMem_Free(b.data);
        return text;
    }
    PyObject *args[3] = {column, tag, value};
    return PyObject_Vectorcall(convert, args, 3, NULL);
}

/* stage_row(image, plan, row, spill) -> bool: append one image's values to the batch's column lists using
 * only the fast paths of staging.stage_record (known columns, values that certainly fit). False means
 * nothing was changed and the Python path must stage the record (new columns, overflow, widening, errors).
 * Each plan value is a PlanEntry tuple (column, values, convert, fast_tag, fast_check), documented once
 * in values.py. */
static PyObject *stage_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "stage_row(image: dict, plan: dict, row: int, spill: int | None)");
        return NULL;
    }
    PyObject *image = args[0], *plan = args[1];
    Py_ssize_t row = PyLong_AsSsize_t(args[2]);
    if (row == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t spill = -1;
    if (args[3] != Py_None) {
        spill = PyLong_AsSsize_t(args[3]);
        if (spill == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    Py_ssize_t size = PyDict_GET_SIZE(image);
    PyObject **touched = PyMem_Malloc(sizeof(PyObject *) * (size_t)(size ? size : 1));
    if (touched == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t ntouched = 0, pos = 0;
    PyObject *attribute, *av;
    int ok = 1;
    while (PyDict_Next(image, &pos, &attribute, &av)) {
        if (!PyDict_CheckExact(av) || PyDict_GET_SIZE(av) != 1) {
            ok = 0;
            break;
        }
        Py_ssize_t apos = 0;
        PyObject *tag, *value;
        PyDict_Next(av, &apos, &tag, &value);
        if (!PyUnicode_CheckExact(tag) || !PyUnicode_CheckExact(attribute)) {
            ok = 0;
            break;
        }
        PyObject *entry = PyDict_GetItemWithError(plan, attribute);
        if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 5 ||
            !PyList_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
            ok = 0;
            break;
        }
        PyObject *values = PyTuple_GET_ITEM(entry, 1);
        if (PyList_GET_SIZE(values) > row) {
            ok = 0;
            break;
        }
        PyObject *converted = stage_value(entry, tag, value, spill);
        if (converted == NULL) {
            ok = 0;
            break;
        }
        touched[ntouched++] = values;
        int rc = 0;
        while (rc == 0 && PyList_GET_SIZE(values) < row) {
            rc = PyList_Append(values, Py_None);
        }
        if (rc == 0) {
            rc = PyList_Append(values, converted);
        }
        Py_DECREF(converted);
        if (rc != 0) {
            ok = 0;
            break;
        }
    }
    if (!ok) {
        /* Whatever went wrong, the Python path decides, and raises the precise error if there is one. */
        PyErr_Clear();
        restore(touched, ntouched, row);
    }
    PyMem_Free(touched);
    return Py_NewRef(ok ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"super_json", (PyCFunction)(void (*)(void))super_json, METH_FASTCALL,
     "super_json(tag, value) -> str | None: a DynamoDB AttributeValue payload as JSON text, or None when "
     "the pure-Python path must decide."},
    {"stage_row", (PyCFunction)(void (*)(void))stage_row, METH_FASTCALL,
     "stage_row(image, plan, row, spill) -> bool: stage one record on the fast paths, or change nothing."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "thermocline.sources.dynamodb_streams._speedups", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
