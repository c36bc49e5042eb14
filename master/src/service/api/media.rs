//! `/media/{wav|pcap}[/{name}]`: the media library. Uploads are the raw body (no
//! multipart), at most 256 MiB, checked with hound / pcap-file before they are stored,
//! within the library's quota (413 over its bytes, 429 over its file count). Must not:
//! build paths from the request (the store's one path builder does).

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};
use crate::service::store::media::{Media, MediaAsset, MediaKind};

fn kind(call: &Call<'_, '_>) -> Result<MediaKind, ApiError> {
    let k = call.param("kind");
    MediaKind::parse(k)
        .ok_or_else(|| ApiError::NotFound(format!("unknown media kind \"{k}\" (wav or pcap)")))
}

#[derive(Serialize)]
struct MediaList {
    media: Vec<MediaAsset>,
    kind: &'static str,
}

pub(super) fn list(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let kind = kind(call)?;
    Reply::ok(&MediaList {
        media: ctx.store.media.list(kind)?,
        kind: kind.as_str(),
    })
}

pub(super) fn upload(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let kind = kind(call)?;
    let name = call.param("name").to_string();
    crate::service::paths::check_name(&name).map_err(|e| ApiError::field("name", e))?;
    call.check_declared_length()?;
    let limit = call.body_limit();
    let declared = call.declared_length();
    let asset = ctx
        .store
        .media
        .upload(kind, &name, call.body_reader(), limit, declared)?;
    ctx.audit(
        call.who()?,
        "media.upload",
        &format!("{}/{}", kind.as_str(), asset.name),
        serde_json::json!({"size_bytes": asset.size_bytes}),
    )?;
    Reply::json(201, &asset)
}

pub(super) fn download(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let kind = kind(call)?;
    let name = call.param("name");
    let path = ctx.store.media.locate(kind, name)?;
    let stored = Media::normalize(kind, name);
    let file_name = format!("{stored}.{}", kind.as_str());
    Ok(Reply::File {
        path,
        content_type: kind.content_type(),
        file_name,
    })
}

pub(super) fn delete(ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let kind = kind(call)?;
    let name = call.param("name").to_string();
    ctx.store.media.delete(kind, &name)?;
    ctx.audit(
        call.who()?,
        "media.delete",
        &format!("{}/{name}", kind.as_str()),
        serde_json::json!({}),
    )?;
    Ok(Reply::Empty(204))
}
