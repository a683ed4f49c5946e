//! Bulk seeding for the benchmark: N users with one session each, in two statements (a recursive
//! CTE, valid on both backends), without argon2.

use super::Conn;

pub async fn seed(conn: &mut Conn, users: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (email, email_normalized, role, password_hash, password_set_at, created_at) \
         WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1) \
         SELECT 'user' || n || '@bench.example', 'user' || n || '@bench.example', 'member', 'not-a-hash', $2, $2 FROM seq",
    )
    .bind(users)
    .bind(now - 60_000)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, data, created_at, last_seen_at, expires_at) \
         SELECT 'bench-' || id, id, '{}', $1, $1, $2 FROM users",
    )
    .bind(now - 30_000)
    .bind(now + 3_600_000)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
