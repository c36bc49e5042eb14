//! `GET /builtin-scenarios[/{id}]`: the engine's built-in catalogue, read-only. Must not:
//! copy the catalogue (the engine's `scenario::builtin` is the one list).

use serde::Serialize;

use super::{ApiError, Call, Ctx, Reply};
use gossipper_engine::scenario::builtin::{self, Builtin};

#[derive(Serialize)]
struct BuiltinMeta {
    id: &'static str,
    name: &'static str,
    role: &'static str,
    description: &'static str,
    source: &'static str,
}

fn meta(b: &Builtin) -> BuiltinMeta {
    BuiltinMeta {
        id: b.id,
        name: b.name,
        role: b.role,
        description: b.description,
        source: "builtin",
    }
}

#[derive(Serialize)]
struct Catalogue {
    scenarios: Vec<BuiltinMeta>,
    source: &'static str,
}

pub(super) fn list(_ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Reply::ok(&Catalogue {
        scenarios: builtin::all().iter().map(meta).collect(),
        source: "builtin",
    })
}

#[derive(Serialize)]
struct One {
    meta: BuiltinMeta,
    xml: &'static str,
    source: &'static str,
}

pub(super) fn get(_ctx: &Ctx, call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    let id = call.param("id");
    let b = builtin::get(id)
        .ok_or_else(|| ApiError::NotFound(format!("built-in scenario \"{id}\" not found")))?;
    Reply::ok(&One {
        meta: meta(b),
        xml: b.xml,
        source: "builtin",
    })
}
