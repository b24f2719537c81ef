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

typedef struct {
    char *data;
    Py_ssize_t len;
    Py_ssize_t cap;
    int utf8; /* some byte written is not ASCII */
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t extra) {
    if (b->len + extra <= b->cap) {
        return 0;
    }
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
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
    if (n == 0) {
        return 0; /* nothing to copy (and an empty buffer has no memory yet) */
    }
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

/* ------------------------------------------------------------------------------------------------------
 * SUPER JSON (mirrors super_json._json_value)
 */

/* A str as a JSON string literal, escaped as json.encoder.encode_basestring does (no ASCII escaping: only
 * '"', '\\' and control characters are escaped). Text that is not valid Unicode (a lone surrogate), which
 * the reference rejects, falls back. */
static int put_string(Buf *b, PyObject *s) {
    if (!PyUnicode_CheckExact(s)) {
        return FALLBACK;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    /* Worst case every character becomes \u00XX (6 bytes); a non-ASCII one takes at most 4 in UTF-8. */
    if (n > (PY_SSIZE_T_MAX - 2) / 6 || buf_reserve(b, n * 6 + 2) < 0) {
        return ERROR;
    }
    char *out = b->data + b->len;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c >= 0x80) {
            if (c < 0x800) {
                *out++ = (char)(0xc0 | (c >> 6));
                *out++ = (char)(0x80 | (c & 0x3f));
            } else if (c < 0x10000) {
                if (c >= 0xd800 && c <= 0xdfff) {
                    return FALLBACK;
                }
                *out++ = (char)(0xe0 | (c >> 12));
                *out++ = (char)(0x80 | ((c >> 6) & 0x3f));
                *out++ = (char)(0x80 | (c & 0x3f));
            } else {
                *out++ = (char)(0xf0 | (c >> 18));
                *out++ = (char)(0x80 | ((c >> 12) & 0x3f));
                *out++ = (char)(0x80 | ((c >> 6) & 0x3f));
                *out++ = (char)(0x80 | (c & 0x3f));
            }
            b->utf8 = 1;
            continue;
        }
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

/* JSON number syntax: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int is_json_number(const char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    if (i < n && p[i] == '-') {
        i++;
    }
    if (i >= n) {
        return 0;
    }
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
    } else {
        return 0;
    }
    if (i < n && p[i] == '.') {
        Py_ssize_t start = ++i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i == start) {
            return 0;
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
            return 0;
        }
    }
    return i == n;
}

/* The ASCII text of an exact str, or NULL (not a str, or not ASCII). */
static const char *ascii_text(PyObject *s, Py_ssize_t *n) {
    if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s)) {
        return NULL;
    }
    *n = PyUnicode_GET_LENGTH(s);
    return (const char *)PyUnicode_1BYTE_DATA(s);
}

/* An N value already in JSON number syntax (the reference re-spells any other). */
static int put_number(Buf *b, PyObject *s) {
    Py_ssize_t n;
    const char *p = ascii_text(s, &n);
    if (p == NULL || !is_json_number(p, n)) {
        return FALLBACK;
    }
    return buf_put(b, p, n) < 0 ? ERROR : OK;
}

static const signed char B64[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
}; /* the value of a base64 digit plus one; 0 for anything else */

/* Canonical base64 (length a multiple of 4, alphabet digits, at most two '=' at the end): text that
 * base64.b64decode(validate=True) certainly accepts. Returns the decoded length, or -1. */
static Py_ssize_t base64_length(const char *p, Py_ssize_t n) {
    if (n % 4) {
        return -1;
    }
    Py_ssize_t pad = 0;
    if (n && p[n - 1] == '=') {
        pad = (n >= 2 && p[n - 2] == '=') ? 2 : 1;
    }
    for (Py_ssize_t i = 0; i < n - pad; i++) {
        if (!B64[(unsigned char)p[i]]) {
            return -1;
        }
    }
    return n / 4 * 3 - pad;
}

/* A B value (base64 text) as its JSON string: the text itself, once it is certainly valid base64. */
static int put_binary(Buf *b, PyObject *s) {
    Py_ssize_t n;
    const char *p = ascii_text(s, &n);
    if (p == NULL || base64_length(p, n) < 0) {
        return FALLBACK;
    }
    if (buf_char(b, '"') < 0 || buf_put(b, p, n) < 0 || buf_char(b, '"') < 0) {
        return ERROR;
    }
    return OK;
}

/* Tags, read without creating objects. */
enum { T_OTHER, T_S, T_N, T_B, T_M, T_L, T_BOOL, T_NULL, T_SS, T_NS, T_BS };

static int tag_code(PyObject *tag) {
    Py_ssize_t n;
    const char *t = ascii_text(tag, &n);
    if (t == NULL) {
        return T_OTHER;
    }
    if (n == 1) {
        switch (t[0]) {
        case 'S': return T_S;
        case 'N': return T_N;
        case 'B': return T_B;
        case 'M': return T_M;
        case 'L': return T_L;
        default: return T_OTHER;
        }
    }
    if (n == 2 && t[1] == 'S') {
        switch (t[0]) {
        case 'S': return T_SS;
        case 'N': return T_NS;
        case 'B': return T_BS;
        default: return T_OTHER;
        }
    }
    if (n == 4 && memcmp(t, "BOOL", 4) == 0) {
        return T_BOOL;
    }
    if (n == 4 && memcmp(t, "NULL", 4) == 0) {
        return T_NULL;
    }
    return T_OTHER;
}

static int put_value(Buf *b, PyObject *tag, PyObject *value, int depth);

/* One AttributeValue {tag: payload}: exactly one entry. */
static int put_attribute(Buf *b, PyObject *av, int depth) {
    if (!PyDict_CheckExact(av) || PyDict_GET_SIZE(av) != 1) {
        return FALLBACK;
    }
    Py_ssize_t pos = 0;
    PyObject *tag, *value;
    PyDict_Next(av, &pos, &tag, &value);
    return put_value(b, tag, value, depth);
}

/* Encoders of one list element: a string, a number, base64 binary, or a nested AttributeValue. */
enum { ITEM_STRING, ITEM_NUMBER, ITEM_BINARY, ITEM_ATTRIBUTE };

/* A JSON array of a list's elements (L, SS, NS, BS). */
static int put_array(Buf *b, PyObject *value, int item, int depth) {
    if (!PyList_CheckExact(value)) {
        return FALLBACK;
    }
    if (buf_char(b, '[') < 0) {
        return ERROR;
    }
    /* The list is only read (no Python code runs while encoding), so its size is fixed meanwhile. */
    Py_ssize_t n = PyList_GET_SIZE(value);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && buf_char(b, ',') < 0) {
            return ERROR;
        }
        PyObject *element = PyList_GET_ITEM(value, i);
        int rc = item == ITEM_STRING   ? put_string(b, element)
                 : item == ITEM_NUMBER ? put_number(b, element)
                 : item == ITEM_BINARY ? put_binary(b, element)
                                       : put_attribute(b, element, depth + 1);
        if (rc != OK) {
            return rc;
        }
    }
    return buf_char(b, ']') < 0 ? ERROR : OK;
}

static int put_value(Buf *b, PyObject *tag, PyObject *value, int depth) {
    if (depth > MAX_DEPTH) {
        return FALLBACK;
    }
    switch (tag_code(tag)) {
    case T_S:
        return put_string(b, value);
    case T_N:
        return put_number(b, value);
    case T_B:
        return put_binary(b, value);
    case T_M: {
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
    case T_L:
        return put_array(b, value, ITEM_ATTRIBUTE, depth);
    case T_BOOL:
        if (value == Py_True) {
            return buf_put(b, "true", 4) < 0 ? ERROR : OK;
        }
        if (value == Py_False) {
            return buf_put(b, "false", 5) < 0 ? ERROR : OK;
        }
        return FALLBACK;
    case T_NULL:
        return buf_put(b, "null", 4) < 0 ? ERROR : OK;
    case T_SS:
        return put_array(b, value, ITEM_STRING, depth);
    case T_NS:
        return put_array(b, value, ITEM_NUMBER, depth);
    case T_BS:
        return put_array(b, value, ITEM_BINARY, depth);
    default:
        return FALLBACK;
    }
}

/* The text of a finished buffer. */
static PyObject *buf_text(Buf *b) {
    return b->utf8 ? PyUnicode_DecodeUTF8(b->data, b->len, "strict") : PyUnicode_DecodeASCII(b->data, b->len, "strict");
}

static PyObject *super_json(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "super_json(tag, value) takes two arguments");
        return NULL;
    }
    Buf b = {NULL, 0, 0, 0};
    int rc = put_value(&b, args[0], args[1], 0);
    PyObject *result;
    if (rc == OK) {
        result = buf_text(&b);
    } else if (rc == FALLBACK) {
        result = Py_NewRef(Py_None);
    } else {
        result = NULL;
    }
    PyMem_Free(b.data);
    return result;
}

/* ------------------------------------------------------------------------------------------------------
 * Staging one item image (mirrors the fast paths of staging.stage_record)
 */

/* What a plan entry's C spec (values.PlanEntry, last field) says the column takes without converting. */
enum { C_OTHER, C_VARCHAR, C_FIXED, C_JSON_NUMBER, C_SUPER, C_BOOLEAN, C_VARBYTE };

/* Plain numbers that certainly fit: -?(0|[1-9][0-9]{0,int_digits-1})(\.[0-9]{1,scale})?, the whole part
 * "0" only when int_digits is 0 (values._decimal_pattern; BIGINT is 18 digits, scale 0). */
static int fits_fixed(const char *p, Py_ssize_t n, long int_digits, long scale) {
    Py_ssize_t i = 0;
    if (i < n && p[i] == '-') {
        i++;
    }
    if (i >= n) {
        return 0;
    }
    if (p[i] == '0') {
        i++;
    } else if (int_digits > 0 && p[i] >= '1' && p[i] <= '9') {
        Py_ssize_t start = i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        if (i - start > int_digits) {
            return 0;
        }
    } else {
        return 0;
    }
    if (i == n) {
        return 1;
    }
    if (scale <= 0 || p[i] != '.') {
        return 0;
    }
    Py_ssize_t start = ++i;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        i++;
    }
    return i == n && i - start >= 1 && i - start <= scale;
}

/* Length in UTF-8 bytes of an exact str, or -1 when it holds a lone surrogate (not valid Unicode). CPython
 * encodes and keeps the UTF-8 of a non-ASCII str, which the Arrow build then copies (arrow_column). */
static Py_ssize_t utf8_length(PyObject *s) {
    if (PyUnicode_IS_ASCII(s)) {
        return PyUnicode_GET_LENGTH(s);
    }
    Py_ssize_t size;
    if (PyUnicode_AsUTF8AndSize(s, &size) == NULL) {
        PyErr_Clear();
        return -1;
    }
    return size;
}

/* The UTF-8 bytes of an exact str (CPython's own encoder; the bytes are kept with the str, as pa.array
 * keeps them), or NULL with no error set when it is not valid Unicode (a lone surrogate). */
static const char *utf8_of(PyObject *s, Py_ssize_t *size) {
    if (PyUnicode_IS_ASCII(s)) {
        *size = PyUnicode_GET_LENGTH(s);
        return (const char *)PyUnicode_1BYTE_DATA(s);
    }
    const char *p = PyUnicode_AsUTF8AndSize(s, size);
    if (p == NULL) {
        PyErr_Clear();
    }
    return p;
}

/* Canonical base64 text → bytes (see base64_length), or NULL with no error set when not canonical. */
static PyObject *base64_bytes(PyObject *s) {
    Py_ssize_t n;
    const char *p = ascii_text(s, &n);
    Py_ssize_t size = p == NULL ? -1 : base64_length(p, n);
    if (size < 0) {
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out == NULL) {
        return NULL;
    }
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
            int d = B64[(unsigned char)p[i + k]];
            v = (v << 6) | (unsigned)(d ? d - 1 : 0);
        }
        if (w < size) o[w++] = (unsigned char)(v >> 16);
        if (w < size) o[w++] = (unsigned char)(v >> 8);
        if (w < size) o[w++] = (unsigned char)v;
    }
    return out;
}

#include "_column_buffer.h"

/* The three small ints of a plan entry's C spec. */
static int read_spec(PyObject *entry, long *code, long *a, long *b) {
    PyObject *spec = PyTuple_GET_ITEM(entry, 5);
    if (!PyTuple_CheckExact(spec) || PyTuple_GET_SIZE(spec) != 3) {
        return -1;
    }
    *code = PyLong_AsLong(PyTuple_GET_ITEM(spec, 0));
    *a = PyLong_AsLong(PyTuple_GET_ITEM(spec, 1));
    *b = PyLong_AsLong(PyTuple_GET_ITEM(spec, 2));
    return PyErr_Occurred() ? -1 : 0;
}

/* One attribute's converted value, as staging.stage_record computes it; NULL (with or without an error set)
 * means "fall back": the caller clears any error (an overflowing value, a widening column, a malformed one
 * all raise in the converter) and leaves the record to Python. */
static PyObject *stage_value(PyObject *entry, PyObject *tag, PyObject *value, Py_ssize_t spill) {
    long code, a, b;
    if (read_spec(entry, &code, &a, &b) < 0) {
        return NULL;
    }
    int t = tag_code(tag);
    if (t == T_NULL) {
        return Py_NewRef(Py_None); /* every converter: NULL → no value */
    }
    Py_ssize_t n;
    const char *p;
    switch (code) {
    case C_VARCHAR:
        if (t == T_S && PyUnicode_CheckExact(value)) {
            Py_ssize_t length = utf8_length(value);
            if (length >= 0 && length <= a) {
                return Py_NewRef(value);
            }
        }
        break;
    case C_FIXED:
        if (t == T_N && (p = ascii_text(value, &n)) != NULL && fits_fixed(p, n, a, b)) {
            return Py_NewRef(value);
        }
        break;
    case C_JSON_NUMBER:
        if (t == T_N && (p = ascii_text(value, &n)) != NULL && is_json_number(p, n)) {
            return Py_NewRef(value);
        }
        break;
    case C_SUPER: {
        /* Never the converter: a SUPER value larger than spill goes to _overflow, which Python decides. */
        Buf buf = {NULL, 0, 0, 0};
        int rc = put_value(&buf, tag, value, 0);
        PyObject *text = NULL;
        if (rc == OK && (spill < 0 || buf.len <= spill)) {
            text = buf_text(&buf);
        }
        PyMem_Free(buf.data);
        return text;
    }
    case C_BOOLEAN:
        if (t == T_BOOL && (value == Py_True || value == Py_False)) {
            return Py_NewRef(value);
        }
        break;
    case C_VARBYTE:
        if (t == T_B) {
            PyObject *data = base64_bytes(value);
            if (data != NULL && PyBytes_GET_SIZE(data) <= a) {
                return data;
            }
            Py_XDECREF(data);
            return NULL;
        }
        break;
    default:
        break;
    }
    /* Anything else: the column's converter, which is pure (it raises for what does not simply fit). */
    PyObject *args[3] = {PyTuple_GET_ITEM(entry, 0), tag, value};
    return PyObject_Vectorcall(PyTuple_GET_ITEM(entry, 2), args, 3, NULL);
}

/* Tuples of 2**k Nones (k < NONE_RUNS), made at import: pad_nones grows a list by them. */
#define NONE_RUNS 13
static PyObject *NONES[NONE_RUNS];

/* Pad a column's list with None up to `row` entries (the rows before `row` that have no value for it), as
 * the Python path's extend([None] * gap) does. A sparse column of a wide table (default routing of a
 * single-table design) is padded for most rows: within the list's capacity the Nones are written directly
 * (as list.extend does), and a list that must grow takes a run of them in one resize. */
static int pad_nones(PyObject *values, Py_ssize_t row) {
    PyListObject *list = (PyListObject *)values;
    Py_ssize_t size = PyList_GET_SIZE(values);
    while (size < row) {
        if (list->allocated >= row) {
            for (Py_ssize_t i = size; i < row; i++) {
                list->ob_item[i] = Py_NewRef(Py_None);
            }
            Py_SET_SIZE(list, row);
            return 0;
        }
        int k = 0;
        while (k + 1 < NONE_RUNS && ((Py_ssize_t)1 << (k + 1)) <= row - size) {
            k++;
        }
        if (PyList_SetSlice(values, size, size, NONES[k]) < 0) {
            return -1;
        }
        size = PyList_GET_SIZE(values);
    }
    return 0;
}

/* A SUPER value's JSON written straight into its column's buffer as row `row` (no str made for it): 1, or
 * 0 with nothing changed, when stage_value decides instead (NULL, another spec, a value to spill, one the
 * encoder leaves to Python). */
static int super_into(ColumnBuffer *cb, PyObject *entry, PyObject *tag, PyObject *value, Py_ssize_t row,
                      Py_ssize_t spill) {
    long code, a, b;
    if (cb->storage != CB_TEXT || row < cb->rows || read_spec(entry, &code, &a, &b) < 0 || code != C_SUPER ||
        tag_code(tag) == T_NULL || cb_cover(cb, row) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t start = cb->data.len;
    int rc = put_value(&cb->data, tag, value, 0);
    if (rc != OK || (spill >= 0 && cb->data.len - start > spill) || cb->data.len > INT32_MAX || cb_cover(cb, row + 1) < 0) {
        cb->data.len = start;
        cb_truncate(cb, row);
        PyErr_Clear();
        return 0;
    }
    ((unsigned char *)cb->validity.data)[row >> 3] |= (unsigned char)(1u << (row & 7));
    return 1;
}

/* Lists a record appended to, so that a record that falls back can be cut back out of them. */
typedef struct {
    PyObject **lists;
    Py_ssize_t n;
    Py_ssize_t cap;
} Touched;

static int touched_reserve(Touched *t, Py_ssize_t n) {
    if (n <= t->cap) {
        return 0;
    }
    PyObject **lists = PyMem_Realloc(t->lists, sizeof(PyObject *) * (size_t)n);
    if (lists == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    t->lists = lists;
    t->cap = n;
    return 0;
}

/* Cut every list or column buffer touched by a record back to `row` rows, so the Python path starts clean. */
static void cut_back(PyObject **lists, Py_ssize_t n, Py_ssize_t row) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *values = lists[i];
        if (Py_IS_TYPE(values, &ColumnBufferType)) {
            cb_truncate((ColumnBuffer *)values, row);
        } else if (PyList_GET_SIZE(values) > row) {
            PyList_SetSlice(values, row, PyList_GET_SIZE(values), NULL);
        }
    }
}

/* Values a record keeps in _overflow instead of their column (staging.stage_record's _Overflow case), when
 * decode_records stages it: the _Overflow class and values._widen from its state, the primary key columns'
 * lists of the table, and the row's _overflow JSON object as it is built. */
typedef struct {
    PyObject *overflow_class;
    PyObject *widen;
    PyObject *keys;
    Buf text;
    Py_ssize_t entries;
    /* fast_loop's new_column(table, attribute, tag, value) and settle(table, staged), the record's table, and
     * how many columns the record recorded through new_column. */
    PyObject *new_column, *settle, *table;
    Py_ssize_t added;
} Overflow;

static PyObject *take_exception(void) {
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
    return value;
#endif
}

/* The converter raised _Overflow for `attribute`: add `"attribute":json_text` to the row's _overflow, as the
 * Python path does for a value that is not a key and whose column is declared, is not numeric or cannot
 * widen for it. 1 added; 0 not (the record goes to Python); the error is cleared either way. */
static int overflow_entry(Overflow *ov, PyObject *entry, PyObject *attribute, PyObject *tag, PyObject *value) {
    PyObject *exc = take_exception();
    if (exc == NULL) {
        return 0;
    }
    PyObject *column = PyTuple_GET_ITEM(entry, 0), *values = PyTuple_GET_ITEM(entry, 1);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ov->keys); k++) {
        if (PyTuple_GET_ITEM(ov->keys, k) == values) {
            Py_DECREF(exc);
            return 0; /* a key that does not fit: the record is quarantined */
        }
    }
    PyObject *json = PyObject_GetAttrString(exc, "json_text");
    Py_DECREF(exc);
    PyObject *declared = json == NULL ? NULL : PyObject_GetAttrString(column, "declared");
    int is_declared = declared == NULL ? -1 : PyObject_IsTrue(declared);
    Py_XDECREF(declared);
    Py_ssize_t size;
    const char *text = (json != NULL && PyUnicode_CheckExact(json)) ? utf8_of(json, &size) : NULL;
    int added = 0;
    if (is_declared >= 0 && text != NULL && PyUnicode_CheckExact(attribute)) {
        int widens = 0;
        if (!is_declared && tag_code(tag) == T_N) {
            PyObject *args[2] = {column, value};
            PyObject *widened = PyObject_Vectorcall(ov->widen, args, 2, NULL);
            widens = widened != Py_None; /* a wider type (Python widens the column), or an error */
            Py_XDECREF(widened);
        }
        if (!widens && buf_char(&ov->text, ov->entries ? ',' : '{') == 0 && put_string(&ov->text, attribute) == OK &&
            buf_char(&ov->text, ':') == 0 && buf_put(&ov->text, text, size) == 0) {
            ov->text.utf8 |= !PyUnicode_IS_ASCII(json);
            ov->entries++;
            added = 1;
        }
    }
    Py_XDECREF(json);
    PyErr_Clear();
    return added;
}

/* Append the values of `image` to its table's column lists as row `row`. 1: staged; 0: nothing changed,
 * Python must stage it (a new column, a value to widen for, a malformed value...; with `ov` NULL also a
 * value to overflow). A converter is Python code, but only ever the pure converters of values.py: no list
 * or dict read here changes. */
static int stage_image(PyObject *image, PyObject *plan, Py_ssize_t row, Py_ssize_t spill, Touched *touched,
                       Overflow *ov) {
    touched->n = 0;
    if (touched_reserve(touched, PyDict_GET_SIZE(image) + 1) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_ssize_t pos = 0;
    PyObject *attribute, *av;
    int ok = 1;
    while (PyDict_Next(image, &pos, &attribute, &av)) {
        if (!PyDict_CheckExact(av) || PyDict_GET_SIZE(av) != 1 || !PyUnicode_CheckExact(attribute)) {
            ok = 0;
            break;
        }
        Py_ssize_t apos = 0;
        PyObject *tag, *value;
        PyDict_Next(av, &apos, &tag, &value);
        PyObject *entry = PyDict_GetItemWithError(plan, attribute);
        if (entry == NULL && !PyErr_Occurred() && ov != NULL && ov->new_column != NULL) {
            /* A column the plan lacks: the Python path's own code records it (or says no), and C goes on. */
            PyObject *call_args[4] = {ov->table, attribute, tag, value};
            PyObject *fresh = PyObject_Vectorcall(ov->new_column, call_args, 4, NULL);
            if (fresh == Py_False) {
                Py_DECREF(fresh);
                continue; /* NULL: no column until the attribute has a value */
            }
            if (fresh != NULL && fresh != Py_None) {
                ov->added++;
            }
            entry = PyDict_GetItemWithError(plan, attribute);
            if (entry != fresh) {
                entry = NULL; /* None, an error, or not this plan's entry: the Python path decides */
            }
            Py_XDECREF(fresh); /* the plan holds the entry */
        }
        if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 7 ||
            !PyList_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
            ok = 0;
            break;
        }
        PyObject *values = PyTuple_GET_ITEM(entry, 1), *buffer = PyTuple_GET_ITEM(entry, 6);
        if (buffer != Py_None && (!Py_IS_TYPE(buffer, &ColumnBufferType) || ((ColumnBuffer *)buffer)->rows > row)) {
            ok = 0;
            break;
        }
        if (ov != NULL && buffer != Py_None) {
            /* A primary key column keeps its values in the list, where the key check reads them. */
            for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(ov->keys); k++) {
                if (PyTuple_GET_ITEM(ov->keys, k) == values) {
                    buffer = Py_None;
                }
            }
        }
        if (PyList_GET_SIZE(values) > row || touched->n >= touched->cap) {
            ok = 0;
            break;
        }
        /* Hold what the converter sees: it is Python code. */
        if (buffer != Py_None && super_into((ColumnBuffer *)buffer, entry, tag, value, row, spill)) {
            touched->lists[touched->n++] = buffer;
            continue;
        }
        Py_INCREF(entry);
        PyObject *converted = stage_value(entry, tag, value, spill);
        if (converted == NULL && ov != NULL && PyErr_Occurred() && PyErr_ExceptionMatches(ov->overflow_class) &&
            overflow_entry(ov, entry, attribute, tag, value)) {
            Py_DECREF(entry);
            continue;
        }
        if (converted == NULL || PyList_GET_SIZE(values) > row) {
            Py_XDECREF(converted);
            Py_DECREF(entry);
            ok = 0;
            break;
        }
        if (buffer != Py_None && converted != Py_None) {
            /* Into the column's Arrow buffers while it is in cache; a value they do not hold goes to the list. */
            int put = cb_put((ColumnBuffer *)buffer, row, converted);
            if (put != 0) {
                Py_DECREF(converted);
                Py_DECREF(entry);
                if (put < 0) {
                    ok = 0;
                    break;
                }
                touched->lists[touched->n++] = buffer;
                continue;
            }
        }
        touched->lists[touched->n++] = values;
        int rc = pad_nones(values, row);
        if (rc == 0) {
            rc = PyList_Append(values, converted);
        }
        Py_DECREF(converted);
        Py_DECREF(entry); /* the plan entry holds `values` */
        if (rc != 0) {
            ok = 0;
            break;
        }
    }
    if (!ok) {
        /* Whatever went wrong, the Python path decides, and raises the precise error if there is one. */
        PyErr_Clear();
        cut_back(touched->lists, touched->n, row);
    }
    return ok;
}

/* stage_row(image, plan, row, spill) -> bool: staging.stage_record's fast path for one record. */
static PyObject *stage_row(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyDict_CheckExact(args[0]) || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "stage_row(image: dict, plan: dict, row: int, spill: int | None)");
        return NULL;
    }
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
    Touched touched = {NULL, 0, 0};
    int ok = stage_image(args[0], args[1], row, spill, &touched, NULL);
    PyMem_Free(touched.lists);
    return Py_NewRef(ok ? Py_True : Py_False);
}

/* ------------------------------------------------------------------------------------------------------
 * A whole batch (mirrors decoder._Decoder.add for every record it can decide)
 */

/* Keys read from records, created once. */
static PyObject *K_EVENT_NAME, *K_DYNAMODB, *K_KEYS, *K_SEQUENCE_NUMBER, *K_CREATION_TIME, *K_ARN,
    *K_NEW_IMAGE, *K_OLD_IMAGE, *K_USER_IDENTITY, *K_TYPE, *K_PRINCIPAL_ID, *OP_I, *OP_U, *OP_D;

/* fnmatch's glob (contracts.model._pattern) over whole text: '*' any run of characters, '?' any one,
 * everything else itself. Patterns with '[' never reach here (the Python side passes their regex). */
static int glob_match(PyObject *pattern, PyObject *text) {
    int pk = PyUnicode_KIND(pattern), tk = PyUnicode_KIND(text);
    const void *pd = PyUnicode_DATA(pattern), *td = PyUnicode_DATA(text);
    Py_ssize_t pn = PyUnicode_GET_LENGTH(pattern), tn = PyUnicode_GET_LENGTH(text);
    Py_ssize_t pi = 0, ti = 0, star = -1, mark = 0;
    while (ti < tn) {
        Py_UCS4 pc = pi < pn ? PyUnicode_READ(pk, pd, pi) : 0;
        if (pi < pn && pc == '*') {
            star = pi++;
            mark = ti;
        } else if (pi < pn && (pc == '?' || pc == PyUnicode_READ(tk, td, ti))) {
            pi++;
            ti++;
        } else if (star >= 0) {
            pi = star + 1;
            ti = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pn && PyUnicode_READ(pk, pd, pi) == '*') {
        pi++;
    }
    return pi == pn;
}

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

/* One record: 1 decoded, 0 left to Python (nothing changed), -1 error (an exception is set). */
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
    PyObject *entry = (arn == NULL || !PyUnicode_CheckExact(arn)) ? NULL : field(arn_routes, arn);
    if (entry == NULL || !PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 4 ||
        !PyUnicode_CheckExact(PyTuple_GET_ITEM(entry, 0))) {
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
    if (result == 0) {
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
    ST_SIZE
};

/* decode_records(records, state) -> None: decode every record of the batch that decode_one decides, and
 * hand every other one to state's defer(index, record) (decoder._Decoder.add, which then refreshes the
 * state), in record order. */
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
        Py_DECREF(sinks);
        Py_DECREF(arn_routes);
        if (rc == 0) {
            PyObject *defer = Py_NewRef(PyList_GET_ITEM(state, ST_DEFER));
            PyObject *position = PyLong_FromSsize_t(i);
            PyObject *call_args[2] = {position, record};
            PyObject *done = position == NULL ? NULL : PyObject_Vectorcall(defer, call_args, 2, NULL);
            Py_XDECREF(position);
            Py_DECREF(defer);
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
