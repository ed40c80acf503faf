/* schema_disjoint.c — can two JSON Schemas match the same value? What makes
 * `oneOf` exact.
 *
 * oneOf wants exactly one branch to match. The grammar is the union of the
 * branches (as for anyOf), which is exact only when no value the grammar
 * generates from one branch is valid against another. A grammar cannot say
 * "not that branch", so json_schema.c accepts a oneOf only when this file
 * proves its branches pairwise disjoint, and refuses it otherwise.
 *
 * The proof is conservative (false = "may overlap") and looks at:
 *   - the kinds of JSON values (null, boolean, number, string, array,
 *     object) a branch generates and the kinds valid against the other
 *     (an explicit `type`, the values of `enum`/`const`; a branch without
 *     them is valid for every kind, even if the grammar generates one);
 *   - literal sets (`enum`, `const`): no common value (numbers compare by
 *     value, 1 == 1.0, as JSON Schema does);
 *   - number ranges (`minimum`, `maximum`, `exclusive*`) that do not meet;
 *   - objects: a property one branch requires whose schema is disjoint
 *     from the other branch's schema for it (a `const`/`enum`
 *     discriminator, or a different type), or that the other branch
 *     forbids (`additionalProperties: false` without it).
 * `$ref`s are followed; nested anyOf/oneOf count by their kinds only. */
#include "grammar/schema_int.h"

#include <jansson.h>
#include <math.h>

enum { K_NULL = 1, K_BOOL = 2, K_NUM = 4, K_STR = 8, K_ARR = 16, K_OBJ = 32, K_ALL = 63 };
enum { MAX_HOPS = 32, MAX_NEST = 16 };

typedef struct summary {
    json_t *s;        /* the schema object after $refs; NULL for true / unknown */
    unsigned gkinds;  /* kinds the grammar generates from it */
    unsigned vkinds;  /* kinds that may be valid against it  */
    json_t *lits;     /* enum / [const]: the only values, or NULL */
    bool lit_null;    /* nullable adds null to them */
    double lo, hi;    /* number range */
    bool lo_ex, hi_ex;
} summary;

static unsigned kind_of_value(json_t *v) {
    switch (json_typeof(v)) {
    case JSON_NULL: return K_NULL;
    case JSON_TRUE:
    case JSON_FALSE: return K_BOOL;
    case JSON_INTEGER:
    case JSON_REAL: return K_NUM;
    case JSON_STRING: return K_STR;
    case JSON_ARRAY: return K_ARR;
    default: return K_OBJ;
    }
}

static unsigned kind_of_type(const char *t) {
    if (!strcmp(t, "null")) return K_NULL;
    if (!strcmp(t, "boolean")) return K_BOOL;
    if (!strcmp(t, "integer") || !strcmp(t, "number")) return K_NUM;
    if (!strcmp(t, "string")) return K_STR;
    if (!strcmp(t, "array")) return K_ARR;
    if (!strcmp(t, "object")) return K_OBJ;
    return K_ALL;
}

/* The kinds an explicit "type" allows, or 0 when there is none. */
static unsigned type_kinds(json_t *s) {
    json_t *t = json_object_get(s, "type");
    if (json_is_string(t)) return kind_of_type(json_string_value(t));
    if (!json_is_array(t)) return 0;
    unsigned k = 0;
    size_t i;
    json_t *x;
    json_array_foreach(t, i, x) k |= json_is_string(x) ? kind_of_type(json_string_value(x)) : K_ALL;
    return k ? k : K_ALL;
}

/* The kind json_schema.c's implied_type gives a schema without "type". */
static unsigned implied_kinds(json_t *s) {
    static const char *const obj[] = {"properties", "additionalProperties", "required", NULL};
    static const char *const arr[] = {"items", "prefixItems", "minItems", "maxItems", NULL};
    static const char *const str[] = {"pattern", "format", "minLength", "maxLength", NULL};
    static const char *const num[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", NULL};
    static const char *const *const lists[] = {obj, arr, str, num};
    static const unsigned kinds[] = {K_OBJ, K_ARR, K_STR, K_NUM};
    for (int l = 0; l < 4; l++)
        for (int i = 0; lists[l][i]; i++)
            if (json_object_get(s, lists[l][i])) return kinds[l];
    return K_ALL;
}

static json_t *follow_refs(json_t *root, json_t *s) {
    for (int hops = 0; json_is_object(s) && json_object_get(s, "$ref"); hops++) {
        json_t *r = json_object_get(s, "$ref");
        if (hops >= MAX_HOPS || !json_is_string(r)) return NULL;
        s = wf_schema_resolve(root, json_string_value(r));
    }
    return s;
}

static void bound(json_t *s, const char *key, bool lower, summary *m) {
    json_t *x = json_object_get(s, key);
    if (!json_is_number(x)) return;
    double d = json_number_value(x);
    bool ex = key[0] == 'e';
    if (lower && (d > m->lo || (d == m->lo && ex))) m->lo = d, m->lo_ex = ex;
    if (!lower && (d < m->hi || (d == m->hi && ex))) m->hi = d, m->hi_ex = ex;
}

static void summarize(json_t *root, json_t *s, int nest, summary *m) {
    memset(m, 0, sizeof *m);
    m->gkinds = m->vkinds = K_ALL;
    m->lo = -INFINITY, m->hi = INFINITY;
    s = follow_refs(root, s);
    if (!json_is_object(s) || nest > MAX_NEST) return; /* true, {} via false, unknown: anything */
    m->s = s;
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf");
    unsigned tk = type_kinds(s);
    if (json_is_array(en) || cn) {
        m->lits = json_is_array(en) ? en : NULL;
        unsigned lk = 0;
        if (m->lits) {
            size_t i;
            json_t *v;
            json_array_foreach(en, i, v) lk |= kind_of_value(v);
        } else {
            lk = kind_of_value(cn);
        }
        m->gkinds = m->vkinds = tk ? (lk & tk) : lk;
    } else if (tk) {
        m->gkinds = m->vkinds = tk;
    } else if (json_is_array(any) || json_is_array(one)) {
        m->gkinds = m->vkinds = 0;
        size_t i;
        json_t *b;
        json_array_foreach(json_is_array(any) ? any : one, i, b) {
            summary sb;
            summarize(root, b, nest + 1, &sb);
            m->gkinds |= sb.gkinds;
            m->vkinds |= sb.vkinds;
        }
    } else {
        m->gkinds = implied_kinds(s); /* generated: the implied type; valid: anything */
    }
    if (json_is_true(json_object_get(s, "nullable"))) m->gkinds |= K_NULL, m->vkinds |= K_NULL, m->lit_null = true;
    bound(s, "minimum", true, m);
    bound(s, "exclusiveMinimum", true, m);
    bound(s, "maximum", false, m);
    bound(s, "exclusiveMaximum", false, m);
}

/* JSON Schema's equality: numbers by value, containers member by member. */
static bool values_equal(json_t *a, json_t *b) {
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!values_equal(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !values_equal(v, w)) return false;
        }
        return true;
    }
    return json_equal(a, b);
}

/* The literal values of m as (array or single) for iteration. */
static size_t n_lits(const summary *m) { return m->lits ? json_array_size(m->lits) : 1; }
static json_t *lit_at(const summary *m, size_t i) {
    return m->lits ? json_array_get(m->lits, i) : json_object_get(m->s, "const");
}
static bool is_literal(const summary *m) { return m->s && (m->lits || json_object_get(m->s, "const")); }

static bool ranges_apart(const summary *a, const summary *b) {
    return a->hi < b->lo || b->hi < a->lo || (a->hi == b->lo && (a->hi_ex || b->lo_ex)) ||
           (b->hi == a->lo && (b->hi_ex || a->lo_ex));
}

static bool value_in_range(json_t *v, const summary *m) {
    double d = json_number_value(v);
    return (d > m->lo || (d == m->lo && !m->lo_ex)) && (d < m->hi || (d == m->hi && !m->hi_ex));
}

static bool disjoint(json_t *root, json_t *x, json_t *y, int nest);

/* No object generated from a is valid against b: a requires a property
 * that b forbids or whose schemas in a and b are disjoint. */
static bool objects_apart(json_t *root, const summary *a, const summary *b, int nest) {
    if (!a->s || !b->s) return false;
    json_t *req = json_object_get(a->s, "required"), *ap = json_object_get(a->s, "properties"),
           *bp = json_object_get(b->s, "properties"), *baddl = json_object_get(b->s, "additionalProperties");
    size_t i;
    json_t *r;
    json_array_foreach(req, i, r) {
        if (!json_is_string(r)) continue;
        json_t *as = json_object_get(ap, json_string_value(r)), *bs = json_object_get(bp, json_string_value(r));
        if (!as) continue;
        if (!bs && json_is_false(baddl)) return true;
        if (bs && disjoint(root, as, bs, nest + 1)) return true;
    }
    return false;
}

/* Nothing generated from a is valid against b. */
static bool gen_apart(json_t *root, const summary *a, const summary *b, int nest) {
    unsigned k = a->gkinds & b->vkinds;
    if (!k) return true;
    if (is_literal(a)) { /* each value of a on its own */
        if (a->lit_null && (b->vkinds & K_NULL)) { /* a's null against b */
            if (!is_literal(b) || b->lit_null) return false;
            for (size_t j = 0; j < n_lits(b); j++)
                if (json_is_null(lit_at(b, j))) return false;
        }
        for (size_t i = 0; i < n_lits(a); i++) {
            json_t *v = lit_at(a, i);
            unsigned vk = kind_of_value(v);
            if (!(vk & b->vkinds)) continue;
            if (is_literal(b)) {
                for (size_t j = 0; j < n_lits(b); j++)
                    if (values_equal(v, lit_at(b, j))) return false;
                continue;
            }
            if (vk == K_NUM && !value_in_range(v, b)) continue;
            return false;
        }
        return true;
    }
    if (is_literal(b)) { /* a is wider than b's values: apart only by kind or range */
        for (size_t j = 0; j < n_lits(b); j++) {
            json_t *v = lit_at(b, j);
            unsigned vk = kind_of_value(v);
            if (!(vk & a->gkinds)) continue;
            if (vk == K_NUM && !value_in_range(v, a)) continue;
            return false;
        }
        return !(b->lit_null && (a->gkinds & K_NULL));
    }
    for (unsigned bit = 1; bit <= K_OBJ; bit <<= 1) {
        if (!(k & bit)) continue;
        if (bit == K_NUM && ranges_apart(a, b)) continue;
        if (bit == K_OBJ && objects_apart(root, a, b, nest)) continue;
        return false;
    }
    return true;
}

static bool disjoint(json_t *root, json_t *x, json_t *y, int nest) {
    if (nest > MAX_NEST) return false;
    summary a, b;
    summarize(root, x, nest, &a);
    summarize(root, y, nest, &b);
    return gen_apart(root, &a, &b, nest) && gen_apart(root, &b, &a, nest);
}

bool wf_schemas_disjoint(json_t *root, json_t *list, size_t *bad_i, size_t *bad_j) {
    size_t n = json_array_size(list);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!disjoint(root, json_array_get(list, i), json_array_get(list, j), 0)) {
                *bad_i = i, *bad_j = j;
                return false;
            }
    return true;
}
