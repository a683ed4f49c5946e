//! SQL for key/value instance settings and e-mail template overrides.

use super::Conn;

pub async fn get(conn: &mut Conn, key: &str) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

pub async fn put(conn: &mut Conn, key: &str, value: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// (subject, html, text, updated_at) of an admin-edited template.
pub async fn template(
    conn: &mut Conn,
    kind: &str,
) -> sqlx::Result<Option<(String, String, String, i64)>> {
    sqlx::query_as("SELECT subject, html, text, updated_at FROM email_templates WHERE kind = $1")
        .bind(kind)
        .fetch_optional(conn)
        .await
}

pub async fn put_template(
    conn: &mut Conn,
    kind: &str,
    subject: &str,
    html: &str,
    text: &str,
    now: i64,
    by: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO email_templates (kind, subject, html, text, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (kind) DO UPDATE SET subject = excluded.subject, html = excluded.html, text = excluded.text, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(kind)
    .bind(subject)
    .bind(html)
    .bind(text)
    .bind(now)
    .bind(by)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn delete_template(conn: &mut Conn, kind: &str) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM email_templates WHERE kind = $1")
        .bind(kind)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}
