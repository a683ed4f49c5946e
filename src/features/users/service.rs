//! Per-user containment. A per-user action writes the user's own watermark (one row) plus its
//! audit entry, in one transaction; the user's session rows are also marked ended so lists show
//! the reason at once.

use anyhow::Context;
use serde_json::json;

use super::{CompromiseInfo, HistoryItem, PasswordStatus, UserDetails, UserListItem, UserListPage};
use crate::domain::{Actor, AuditAction, EndReason, RequestMeta, Role, Viewer};
use crate::error::{AppError, Result};
use crate::features::auth::reset;
use crate::features::devices::service::sessions_of;
use crate::features::security::service::check_reason;
use crate::features::sessions::service::end_all_of_user;
use crate::features::sessions::step_up::{self, ADMIN_WINDOW_MS};
use crate::runtime::security::{password_compromise, Scope, Snapshot};
use crate::runtime::{AppState, AuditedTx};
use crate::storage::users::{self, UserFilter, UserRow, UserStatus};
use crate::storage::{audit as audit_store, resets, sessions, Conn};

const PAGE: i64 = 50;

fn status_label(u: &UserRow, s: &Snapshot, reset_pending: bool) -> &'static str {
    if u.disabled_at.is_some() {
        "Disabled"
    } else if password_compromise(u, s).is_some() {
        if reset_pending {
            "Reset pending"
        } else {
            "Password compromised"
        }
    } else {
        "Active"
    }
}

async fn has_code(conn: &mut Conn, user_id: i64) -> Result<bool> {
    Ok(resets::code(conn, user_id)
        .await
        .context("load code")?
        .is_some())
}

pub async fn list(
    state: &AppState,
    q: Option<String>,
    status: Option<String>,
    role: Option<String>,
    after: i64,
) -> Result<UserListPage> {
    list_page(state, q, status, role, after, PAGE).await
}

/// One page of at most `page` users (1–200) after the id `after`.
pub async fn list_page(
    state: &AppState,
    q: Option<String>,
    status: Option<String>,
    role: Option<String>,
    after: i64,
    page: i64,
) -> Result<UserListPage> {
    let page = page.clamp(1, 200);
    let status = match status.as_deref().unwrap_or("") {
        "" => None,
        "active" => Some(UserStatus::Active),
        "compromised" => Some(UserStatus::Compromised),
        "reset_pending" => Some(UserStatus::ResetPending),
        "disabled" => Some(UserStatus::Disabled),
        _ => return Err(AppError::field("status", "Unknown status filter.")),
    };
    let role = match role.as_deref().unwrap_or("") {
        "" => None,
        r @ ("admin" | "member") => Some(r.to_owned()),
        _ => return Err(AppError::field("role", "Unknown role filter.")),
    };
    let search = q.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
    let snap = state.security.get();
    let filter = UserFilter {
        search,
        role,
        status,
        after_id: after,
        limit: page + 1,
    };
    let mut conn = state.conn().await?;
    let mut rows = users::list(&mut conn, &filter, snap.row.passwords_compromised_before)
        .await
        .context("list users")?;
    let next_after = (rows.len() as i64 > page).then(|| rows[page as usize - 1].id);
    rows.truncate(page as usize);
    let mut out = Vec::with_capacity(rows.len());
    for u in rows {
        let pending = password_compromise(&u, &snap).is_some() && has_code(&mut conn, u.id).await?;
        out.push(UserListItem {
            status: status_label(&u, &snap, pending).into(),
            id: u.id,
            email: u.email,
            name: u.name,
            role: u.role,
            created_at: u.created_at,
        });
    }
    Ok(UserListPage {
        users: out,
        next_after,
    })
}

async fn load(conn: &mut Conn, id: i64) -> Result<UserRow> {
    users::find_by_id(conn, id)
        .await
        .context("load user")?
        .ok_or_else(|| AppError::field("user", "No such user."))
}

/// Everything the user page shows. `admin` is the administrator looking (`None`: an API key,
/// which has no account of its own and no step-up).
pub async fn details(state: &AppState, admin: Option<&Viewer>, id: i64) -> Result<UserDetails> {
    let snap = state.security.get();
    let mut conn = state.conn().await?;
    let u = load(&mut conn, id).await?;
    let pending = has_code(&mut conn, u.id).await?;
    let info = |scope: &Scope, at, by: Option<String>, reason: Option<String>| CompromiseInfo {
        scope: if *scope == Scope::User {
            "This user".into()
        } else {
            "Instance-wide".into()
        },
        at,
        by,
        reason,
    };
    let compromised = password_compromise(&u, &snap).map(|c| info(&c.scope, c.at, c.by, c.reason));
    // Compromises that applied to this user and were resolved by a newer password.
    let mut resolved = Vec::new();
    if let Some(at) = u
        .password_compromised_at
        .filter(|at| u.password_set_at > *at)
    {
        resolved.push((
            info(
                &Scope::User,
                at,
                u.password_compromised_by.clone(),
                u.password_compromised_reason.clone(),
            ),
            u.password_set_at,
        ));
    }
    let wm = snap.row.passwords_compromised_before;
    if wm > 0 && u.created_at <= wm && u.password_set_at > wm {
        let c = info(
            &Scope::Instance,
            wm,
            snap.row.passwords_compromised_by.clone(),
            snap.row.passwords_compromised_reason.clone(),
        );
        resolved.push((c, u.password_set_at));
    }
    let (session_items, ended_sessions) = sessions_of(&mut conn, state, &u, "").await?;
    let history = audit_store::recent(&mut conn, Some(u.id), 50)
        .await
        .context("load history")?
        .into_iter()
        .map(|e| HistoryItem {
            at: e.at,
            action: e.action,
            actor: crate::features::audit::actor_in_words(&e.actor_kind, e.actor_label.as_deref()),
            reason: e.reason,
            ip: e.ip,
        })
        .collect();
    Ok(UserDetails {
        step_up_needed: admin.is_some_and(|a| step_up_needed(state, a, &u)),
        status: status_label(&u, &snap, pending).into(),
        is_self: admin.is_some_and(|a| a.user_id == u.id),
        id: u.id,
        email: u.email,
        name: u.name,
        role: u.role,
        created_at: u.created_at,
        disabled_at: u.disabled_at,
        password: PasswordStatus {
            set_at: u.password_set_at,
            compromised,
            resolved,
        },
        sessions: session_items,
        ended_sessions,
        history,
    })
}

/// Acting on another administrator (disable, compromise, sign-out) needs step-up: a stolen admin
/// cookie alone must not lock the other administrators out. Returns whether a password was
/// proved (the caller then restarts the session's step-up window).
pub async fn guard_admin_target(
    state: &AppState,
    admin: &Viewer,
    user_id: i64,
    password: Option<&str>,
) -> Result<bool> {
    if user_id == admin.user_id {
        return Ok(false);
    }
    let mut conn = state.conn().await?;
    let target = users::find_by_id(&mut conn, user_id)
        .await
        .context("load user")?;
    drop(conn);
    match target {
        Some(u) if Role::parse(&u.role) == Some(Role::Admin) => {
            step_up::check(state, admin, password.unwrap_or(""), ADMIN_WINDOW_MS).await
        }
        _ => Ok(false),
    }
}

/// Whether the page must ask for the password before acting on this user.
fn step_up_needed(state: &AppState, admin: &Viewer, u: &UserRow) -> bool {
    u.id != admin.user_id
        && Role::parse(&u.role) == Some(Role::Admin)
        && step_up::needed(state, admin, ADMIN_WINDOW_MS)
}

/// Sets the user's current password as compromised (and optionally signs out their sessions).
/// Their live sessions are restricted to the reset-password task at their next request. Returns
/// the watermark written.
pub async fn compromise(
    state: &AppState,
    op: &Actor,
    user_id: i64,
    reason: &str,
    sign_out: bool,
    meta: &RequestMeta,
) -> Result<i64> {
    let reason = check_reason(reason)?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    let u = load(&mut tx, user_id).await?;
    let at = tx.order_time().await?.max(u.password_set_at);
    users::compromise_password(&mut tx, u.id, at, &op.label(), reason)
        .await
        .context("set password watermark")?;
    let ended = if sign_out {
        end_all_of_user(&mut tx, u.id, EndReason::PasswordCompromised).await?
    } else {
        0
    };
    let details = json!({"signed_out_sessions": sign_out, "sessions_ended": ended});
    tx.record(
        op,
        AuditAction::UserPasswordCompromised,
        Some(u.id),
        Some(reason),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(at)
}

pub async fn sign_out_all(
    state: &AppState,
    op: &Actor,
    user_id: i64,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let u = load(&mut tx, user_id).await?;
    let ended = end_all_of_user(&mut tx, u.id, EndReason::SignedOutByAdmin).await?;
    tx.record(
        op,
        AuditAction::UserSessionsRevoked,
        Some(u.id),
        None,
        json!({"sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn revoke_one(
    state: &AppState,
    op: &Actor,
    user_id: i64,
    key: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let u = load(&mut tx, user_id).await?;
    if sessions::end_for_user(&mut tx, key, u.id, EndReason::SignedOutByAdmin, now)
        .await
        .context("end session")?
        != 1
    {
        return Err(AppError::field(
            "session",
            "This session has already ended.",
        ));
    }
    tx.record(
        op,
        AuditAction::SessionRevoked,
        Some(u.id),
        None,
        json!({"session": &key[..12.min(key.len())]}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn send_reset(
    state: &AppState,
    op: &Actor,
    user_id: i64,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let u = load(&mut tx, user_id).await?;
    let superseded = reset::send_link(&mut tx, &u).await?;
    tx.record(
        op,
        AuditAction::PasswordResetSentByAdmin,
        Some(u.id),
        None,
        json!({"superseded_links": superseded}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Refuses to take away the last enabled administrator (the console would have no one left who
/// can act; `keywarden admin create` is the way back in).
async fn last_admin_stays(conn: &mut Conn, field: &str) -> Result<()> {
    let admins = users::admin_emails(conn)
        .await
        .context("count administrators")?;
    if admins.len() <= 1 {
        return Err(AppError::field(
            field,
            "This is the last enabled administrator: make another user an administrator first.",
        ));
    }
    Ok(())
}

/// Makes the user an administrator or a member. The last enabled administrator stays one, so
/// the console always has someone who can act.
pub async fn set_role(
    state: &AppState,
    op: &Actor,
    user_id: i64,
    role: Role,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let u = load(&mut tx, user_id).await?;
    if u.role == role.as_str() {
        return Ok(());
    }
    if role != Role::Admin && u.disabled_at.is_none() {
        last_admin_stays(&mut tx, "role").await?;
    }
    users::set_role(&mut tx, u.id, role.as_str())
        .await
        .context("set role")?;
    tx.record(
        op,
        AuditAction::UserRoleChanged,
        Some(u.id),
        None,
        json!({"from": u.role, "to": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn set_disabled(
    state: &AppState,
    op: &Actor,
    user_id: i64,
    disabled: bool,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let u = load(&mut tx, user_id).await?;
    if disabled && u.disabled_at.is_none() && Role::parse(&u.role) == Some(Role::Admin) {
        last_admin_stays(&mut tx, "disabled").await?;
    }
    users::set_disabled(&mut tx, u.id, disabled.then_some(now))
        .await
        .context("set disabled")?;
    let ended = if disabled {
        end_all_of_user(&mut tx, u.id, EndReason::AccountDisabled).await?
    } else {
        0
    };
    let action = if disabled {
        AuditAction::UserDisabled
    } else {
        AuditAction::UserEnabled
    };
    tx.record(
        op,
        action,
        Some(u.id),
        None,
        json!({"sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
