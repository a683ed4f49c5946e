//! The evidence bundle of an incident, for auditors: one `.tar.gz` with
//! - `incident.json`: the record and its cohorts;
//! - `timeline.jsonl`: the audit entries attached to it;
//! - `audit.jsonl`: every audit entry from its opening to its close (or the head), hashes
//!   included;
//! - `checkpoint.txt`: a signed checkpoint of the chain's head, taken when the bundle is built;
//! - `cohort-<id>.csv`: each frozen member list with containment and notice states;
//! - `kpis.json`: the remediation figures;
//! - `MANIFEST`: the SHA-256 of each file above.
//!
//! Building one is recorded in the audit trail (before the window is read, so the bundle holds
//! its own entry and the checkpoint covers it).

use anyhow::Context;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::{time, Actor, AuditAction, RequestMeta};
use crate::error::Result;
use crate::runtime::{checkpoint, AppState, AuditedTx};
use crate::storage::audit::AuditRow;
use crate::storage::{audit, incidents};

/// Audit entries read per query.
const PAGE: i64 = 1000;

fn entry_json(r: &AuditRow) -> serde_json::Value {
    json!({
        "seq": r.seq,
        "at": time::utc_seconds(r.at),
        "at_ms": r.at,
        "actor_kind": r.actor_kind,
        "actor_user_id": r.actor_user_id,
        "actor_label": r.actor_label,
        "action": r.action,
        "target_user_id": r.target_user_id,
        "ip": r.ip,
        "user_agent": r.user_agent,
        "reason": r.reason,
        "details": serde_json::from_str::<serde_json::Value>(&r.details).unwrap_or(serde_json::Value::Null),
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    })
}

fn jsonl(rows: &[AuditRow]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in rows {
        out.extend(entry_json(r).to_string().into_bytes());
        out.push(b'\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// Builds the bundle. Returns its file name and bytes.
pub async fn build(
    state: &AppState,
    op: &Actor,
    reference: &str,
    meta: &RequestMeta,
) -> Result<(String, Vec<u8>)> {
    let row = super::service::find(state, reference).await?;
    {
        let mut meta = meta.clone();
        meta.incident = Some((row.id, row.reference.clone()));
        let mut tx = AuditedTx::begin(state, &meta).await?;
        tx.record(op, AuditAction::IncidentExported, None, None, json!({}))
            .await?;
        tx.commit().await?;
    }
    let page = super::dashboard::page(state, &row.id.to_string()).await?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push((
        "incident.json".into(),
        serde_json::to_vec_pretty(&json!({
            "incident": page.incident,
            "cohorts": page.cohorts,
            "exported_at": time::utc_seconds(state.now()),
        }))
        .context("encode incident")?,
    ));
    let mut conn = state.conn().await?;
    let timeline = incidents::timeline(&mut conn, row.id, i64::MAX)
        .await
        .context("read timeline")?;
    files.push(("timeline.jsonl".into(), jsonl(&timeline)));

    // The window: from the opening entry to the closing one (or the head).
    let (mut after, end) = incidents::audit_window(&mut conn, row.id)
        .await
        .context("find the incident's audit window")?;
    let end = end.unwrap_or(i64::MAX);
    let mut window = Vec::new();
    'pages: loop {
        let rows = audit::page_after(&mut conn, after, PAGE)
            .await
            .context("read audit entries")?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        for r in rows {
            if r.seq > end {
                break 'pages;
            }
            window.push(r);
        }
    }
    files.push(("audit.jsonl".into(), jsonl(&window)));
    let signed = checkpoint::current(state)
        .await
        .context("sign a checkpoint of the chain's head")?;
    files.push(("checkpoint.txt".into(), signed.to_text().into_bytes()));

    for c in incidents::cohorts_of(&mut conn, row.id)
        .await
        .context("load cohorts")?
    {
        let mut csv = String::from("user_id,email,contained_at,notified_at,notice_status\n");
        for m in incidents::member_report(&mut conn, c.id)
            .await
            .context("read cohort members")?
        {
            let at = |t: Option<i64>| t.map(time::utc_seconds).unwrap_or_default();
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                m.user_id,
                csv_field(m.email.as_deref().unwrap_or("")),
                at(m.contained_at),
                at(m.notified_at),
                m.notice_status.as_deref().unwrap_or(match m.outbox_id {
                    Some(_) => "sent",
                    None => "",
                })
            ));
        }
        files.push((format!("cohort-{}.csv", c.id), csv.into_bytes()));
    }
    drop(conn);
    files.push((
        "kpis.json".into(),
        serde_json::to_vec_pretty(&page.kpis).context("encode figures")?,
    ));
    let manifest: String = files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", hex::encode(Sha256::digest(bytes))))
        .collect();
    files.push(("MANIFEST".into(), manifest.into_bytes()));

    let name = format!("keywarden-incident-{}.tar.gz", row.reference);
    let root = name.trim_end_matches(".tar.gz").to_owned();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mtime = u64::try_from(state.now() / 1000).unwrap_or(0);
    for (file, bytes) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_cksum();
        tar.append_data(&mut header, format!("{root}/{file}"), bytes.as_slice())
            .context("write the archive")?;
    }
    let bytes = tar
        .into_inner()
        .context("finish the archive")?
        .finish()
        .context("compress the archive")?;
    Ok((name, bytes))
}
