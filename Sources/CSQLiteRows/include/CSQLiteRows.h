#ifndef RETURNSYNC_CSQLITEROWS_H
#define RETURNSYNC_CSQLITEROWS_H

#include <stdint.h>

// Declared, not included: Swift reaches SQLite's own declarations through GRDB's module, and a second import of
// <sqlite3.h> would make its constants ambiguous there.
typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

/// What a `returnsync_value` holds.
typedef enum returnsync_value_type {
    returnsync_value_null = 0,
    returnsync_value_integer = 1,
    returnsync_value_text = 2,
} returnsync_value_type;

/// One value of a row held in memory: NULL, an integer, or UTF-8 text that stays where it is while the statement
/// reading it runs (SQLite does not copy it until it writes it into a record).
typedef struct returnsync_value {
    int64_t integer;
    const char *text;
    int32_t length;
    returnsync_value_type type;
} returnsync_value;

/// `count` rows of `columns` values each: row after row in `values`, or — when `row_values` is set — each row its
/// number (`numbers[row]`, column `c0`) and `columns - 1` values of its own (`row_values[row]`, columns `c1`…), laid
/// out where the row was made (`values` is then unused).
typedef struct returnsync_rows {
    const returnsync_value *values;
    int32_t columns;
    int32_t count;
    const returnsync_value *const *row_values;
    const int64_t *numbers;
} returnsync_rows;

/// The most columns a row may have: the table-valued function's columns are `c0` … `c63`.
#define RETURNSYNC_ROWS_MAXIMUM_COLUMNS 64

/// Registers the table-valued function `returnsync_rows(?)` on `db`: it yields the rows bound to its argument with
/// `returnsync_bind_rows`, as columns `c0` … `c63` (NULL beyond the rows' own), so that
/// `INSERT INTO t (a, b) SELECT c0, c1 FROM returnsync_rows(?)` writes many rows held in memory in one statement
/// without binding each value. Returns SQLite's result code.
int returnsync_rows_register(sqlite3 *db);

/// Binds `rows` to parameter `index` of `statement` for `returnsync_rows(?)`; `rows` and what it points to must stay
/// as they are until the statement is reset. Returns SQLite's result code.
int returnsync_bind_rows(sqlite3_stmt *statement, int index, const returnsync_rows *rows);

#endif
