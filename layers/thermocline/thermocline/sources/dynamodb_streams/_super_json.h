/* The growable byte buffer, the encoders' result codes, and SUPER JSON text of an AttributeValue (mirrors super_json._json_value). Included once by _speedups.c (one translation unit), after its includes and defines. */
#ifndef THERMOCLINE_SUPER_JSON_H
#define THERMOCLINE_SUPER_JSON_H

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

/* The parts of a number in JSON syntax, -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?: the digits of its
 * whole part (0 for a whole part "0"), of its fraction, and whether it has an exponent. */
typedef struct {
    Py_ssize_t whole;
    Py_ssize_t fraction;
    int exponent;
} NumberShape;

/* 1 when p[0..n) is a number in JSON syntax, with its shape; 0 otherwise. The one reading of number text in
 * the fast path: SUPER text (is_json_number) and the fixed-point columns (fits_fixed, staging) both use it. */
static int scan_number(const char *p, Py_ssize_t n, NumberShape *shape) {
    Py_ssize_t i = 0;
    shape->whole = shape->fraction = 0;
    shape->exponent = 0;
    if (i < n && p[i] == '-') {
        i++;
    }
    if (i >= n) {
        return 0;
    }
    if (p[i] == '0') {
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        Py_ssize_t start = i;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            i++;
        }
        shape->whole = i - start;
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
        shape->fraction = i - start;
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
        shape->exponent = 1;
    }
    return i == n;
}

static int is_json_number(const char *p, Py_ssize_t n) {
    NumberShape shape;
    return scan_number(p, n, &shape);
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

#endif /* THERMOCLINE_SUPER_JSON_H */
