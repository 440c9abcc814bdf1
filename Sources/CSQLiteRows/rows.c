#include "CSQLiteRows.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

// A statement running once per row pays SQLite's work to start and finish it, and a bind call per value (a function
// call, the statement's checks, the old value released): measured in C on 100,000 projection rows of 37 columns, one
// `INSERT OR REPLACE … VALUES` per row took 0.67–0.71 s where this function's 500 rows a statement took 0.49 s
// (BENCHMARKS.md, issue 18). SQLite's own `carray` extension serves one column of one type, and Debian's SQLite is
// built without it.

// The type name SQLite checks a bound pointer by (`sqlite3_bind_pointer`): a static string, as it asks.
static const char rowsPointerType[] = "returnsync_rows";

typedef struct rows_cursor {
    sqlite3_vtab_cursor base;
    const returnsync_rows *rows;
    int32_t row;
} rows_cursor;

static int rowsConnect(
    sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **table, char **error
) {
    (void)aux;
    (void)argc;
    (void)argv;
    (void)error;
    char schema[16 + RETURNSYNC_ROWS_MAXIMUM_COLUMNS * 5 + 16] = "CREATE TABLE x(";
    size_t used = strlen(schema);
    for (int column = 0; column < RETURNSYNC_ROWS_MAXIMUM_COLUMNS; column++) {
        used += (size_t)snprintf(schema + used, sizeof schema - used, "c%d,", column);
    }
    snprintf(schema + used, sizeof schema - used, "rows HIDDEN)");
    int result = sqlite3_declare_vtab(db, schema);
    if (result != SQLITE_OK) return result;
    sqlite3_vtab *made = sqlite3_malloc(sizeof *made);
    if (made == NULL) return SQLITE_NOMEM;
    memset(made, 0, sizeof *made);
    *table = made;
    return SQLITE_OK;
}

static int rowsDisconnect(sqlite3_vtab *table) {
    sqlite3_free(table);
    return SQLITE_OK;
}

// The argument (the hidden `rows` column, equal to a bound pointer) is required: without it there is nothing to read.
static int rowsBestIndex(sqlite3_vtab *table, sqlite3_index_info *info) {
    (void)table;
    for (int index = 0; index < info->nConstraint; index++) {
        const struct sqlite3_index_constraint *constraint = &info->aConstraint[index];
        if (constraint->iColumn != RETURNSYNC_ROWS_MAXIMUM_COLUMNS) continue;
        if (constraint->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
        if (!constraint->usable) return SQLITE_CONSTRAINT;
        info->aConstraintUsage[index].argvIndex = 1;
        info->aConstraintUsage[index].omit = 1;
        info->estimatedCost = 1;
        info->idxNum = 1;
        return SQLITE_OK;
    }
    info->estimatedCost = 1e12;
    info->idxNum = 0;
    return SQLITE_OK;
}

static int rowsOpen(sqlite3_vtab *table, sqlite3_vtab_cursor **cursor) {
    (void)table;
    rows_cursor *made = sqlite3_malloc(sizeof *made);
    if (made == NULL) return SQLITE_NOMEM;
    memset(made, 0, sizeof *made);
    *cursor = &made->base;
    return SQLITE_OK;
}

static int rowsClose(sqlite3_vtab_cursor *cursor) {
    sqlite3_free(cursor);
    return SQLITE_OK;
}

static int rowsFilter(
    sqlite3_vtab_cursor *base, int indexNumber, const char *indexString, int argc, sqlite3_value **argv
) {
    (void)indexString;
    rows_cursor *cursor = (rows_cursor *)base;
    cursor->row = 0;
    // A pointer bound under another type name, or none, reads as NULL: no rows.
    cursor->rows = (indexNumber == 1 && argc == 1) ? sqlite3_value_pointer(argv[0], rowsPointerType) : NULL;
    if (cursor->rows != NULL && cursor->rows->columns > RETURNSYNC_ROWS_MAXIMUM_COLUMNS) {
        base->pVtab->zErrMsg = sqlite3_mprintf(
            "returnsync_rows: %d columns, at most %d", cursor->rows->columns, RETURNSYNC_ROWS_MAXIMUM_COLUMNS
        );
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

static int rowsNext(sqlite3_vtab_cursor *base) {
    ((rows_cursor *)base)->row++;
    return SQLITE_OK;
}

static int rowsEof(sqlite3_vtab_cursor *base) {
    const rows_cursor *cursor = (const rows_cursor *)base;
    return cursor->rows == NULL || cursor->row >= cursor->rows->count;
}

static int rowsColumn(sqlite3_vtab_cursor *base, sqlite3_context *context, int column) {
    const rows_cursor *cursor = (const rows_cursor *)base;
    const returnsync_rows *rows = cursor->rows;
    if (column >= rows->columns) return SQLITE_OK;  // NULL
    const returnsync_value *value;
    if (rows->row_values != NULL) {
        if (column == 0) {
            sqlite3_result_int64(context, rows->numbers[cursor->row]);
            return SQLITE_OK;
        }
        value = &rows->row_values[cursor->row][column - 1];
    } else {
        value = &rows->values[(int64_t)cursor->row * rows->columns + column];
    }
    switch (value->type) {
    case returnsync_value_integer:
        sqlite3_result_int64(context, value->integer);
        break;
    case returnsync_value_text:
        // SQLITE_STATIC: the caller keeps the bytes until the statement is reset; SQLite copies them into the record.
        sqlite3_result_text(context, value->text, value->length, SQLITE_STATIC);
        break;
    default:
        break;  // NULL
    }
    return SQLITE_OK;
}

static int rowsRowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    *rowid = ((const rows_cursor *)base)->row;
    return SQLITE_OK;
}

static sqlite3_module rowsModule = {
    .iVersion = 0,
    .xCreate = NULL,  // eponymous only: `returnsync_rows(?)` needs no CREATE VIRTUAL TABLE
    .xConnect = rowsConnect,
    .xBestIndex = rowsBestIndex,
    .xDisconnect = rowsDisconnect,
    .xDestroy = NULL,
    .xOpen = rowsOpen,
    .xClose = rowsClose,
    .xFilter = rowsFilter,
    .xNext = rowsNext,
    .xEof = rowsEof,
    .xColumn = rowsColumn,
    .xRowid = rowsRowid,
};

int returnsync_rows_register(sqlite3 *db) {
    return sqlite3_create_module(db, "returnsync_rows", &rowsModule, NULL);
}

int returnsync_bind_rows(sqlite3_stmt *statement, int index, const returnsync_rows *rows) {
    return sqlite3_bind_pointer(statement, index, (void *)rows, rowsPointerType, NULL);
}
