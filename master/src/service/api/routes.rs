//! The `/api/v2` route table: method, path pattern, access and body limit per route.
//!
//! Owns: which handler answers which request, and who may call it. The authorization
//! matrix test walks this same table. Must not: authenticate (`dispatch` does) or hold
//! handler logic.

use super::{
    Access, ApiError, Call, Ctx, JSON_BODY, MEDIA_BODY, Reply, SCENARIO_BODY, SMALL_BODY, audit,
    builtin, events, gateways, health, jobs, live, loadtest, media, metrics, openapi, profiles,
    reports, scenario_import, scenarios, session, settings, tools, users, worker_lines,
};
use crate::service::store::profiles::{ClientProfile, ServerProfile};

pub(crate) type Handler = fn(&Ctx, &mut Call<'_, '_>) -> Result<Reply, ApiError>;
/// Path parameters by name.
pub(crate) type Params = Vec<(&'static str, String)>;

pub(crate) struct Route {
    pub(crate) method: &'static str,
    /// `/`-separated; `{name}` segments are parameters.
    pub(crate) pattern: &'static str,
    pub(crate) access: Access,
    pub(crate) body_limit: u64,
    pub(crate) handler: Handler,
    /// Whether a `?ticket=` may stand in for the token: only the reads a browser must
    /// open by URL (WebSockets, the event stream, downloads), never a change, and never
    /// `/auth/ticket` (a ticket cannot mint more tickets).
    pub(crate) ticket: bool,
    /// Whether the scrape token of `gossipper ui --metrics-token-file` opens it besides
    /// a user's token: only `/metrics`, a read that reveals no job's settings.
    pub(crate) scrape: bool,
}

const fn r(
    method: &'static str,
    pattern: &'static str,
    access: Access,
    body_limit: u64,
    handler: Handler,
) -> Route {
    Route {
        method,
        pattern,
        access,
        body_limit,
        handler,
        ticket: false,
        scrape: false,
    }
}

/// A `GET` route that also takes a `?ticket=` (see [`Route::ticket`]).
const fn by_url(pattern: &'static str, handler: Handler) -> Route {
    Route {
        ticket: true,
        ..r("GET", pattern, User, 0, handler)
    }
}

/// A `GET` route that the scrape token opens too (see [`Route::scrape`]).
const fn scraped(pattern: &'static str, handler: Handler) -> Route {
    Route {
        scrape: true,
        ..r("GET", pattern, User, 0, handler)
    }
}

use Access::{Admin, Open, User};

pub(crate) const ROUTES: &[Route] = &[
    r("GET", "/health", Open, 0, health::health),
    r("GET", "/healthz", Open, 0, health::healthz),
    r("GET", "/auth/status", Open, 0, health::auth_status),
    // The API's own description: a public contract, with no data in it.
    r("GET", "/openapi.json", Open, 0, openapi::document_route),
    r("POST", "/auth/login", Open, SMALL_BODY, session::login),
    r("POST", "/auth/ticket", User, SMALL_BODY, session::ticket),
    r("GET", "/me", User, 0, session::me),
    r(
        "POST",
        "/me/password",
        User,
        SMALL_BODY,
        session::change_password,
    ),
    // Profiles
    r("GET", "/servers", User, 0, profiles::list_servers),
    r(
        "POST",
        "/servers",
        User,
        JSON_BODY,
        profiles::create::<ServerProfile>,
    ),
    r(
        "GET",
        "/servers/{id}",
        User,
        0,
        profiles::get::<ServerProfile>,
    ),
    r(
        "PUT",
        "/servers/{id}",
        User,
        JSON_BODY,
        profiles::update::<ServerProfile>,
    ),
    r(
        "DELETE",
        "/servers/{id}",
        User,
        0,
        profiles::delete::<ServerProfile>,
    ),
    r("GET", "/clients", User, 0, profiles::list_clients),
    r(
        "POST",
        "/clients",
        User,
        JSON_BODY,
        profiles::create::<ClientProfile>,
    ),
    r(
        "GET",
        "/clients/{id}",
        User,
        0,
        profiles::get::<ClientProfile>,
    ),
    r(
        "PUT",
        "/clients/{id}",
        User,
        JSON_BODY,
        profiles::update::<ClientProfile>,
    ),
    r(
        "DELETE",
        "/clients/{id}",
        User,
        0,
        profiles::delete::<ClientProfile>,
    ),
    // REGISTER gateway profiles (spec §5.14)
    r("GET", "/gateways", User, 0, gateways::list),
    r("POST", "/gateways", User, JSON_BODY, gateways::create),
    r("GET", "/gateways/{id}", User, 0, gateways::get),
    // The Autodiscover button's source: the host's interface addresses.
    r("GET", "/gateway/ips", User, 0, gateways::ips),
    // The single-gateway aliases of the Go tool, on the first profile in id order.
    r("GET", "/gateway", User, 0, gateways::get_first),
    r("PUT", "/gateway", User, JSON_BODY, gateways::put_first),
    r("PUT", "/gateway/arm", User, SMALL_BODY, gateways::arm_first),
    r(
        "POST",
        "/gateway/originate",
        User,
        SMALL_BODY,
        gateways::originate_first,
    ),
    r("PUT", "/gateways/{id}", User, JSON_BODY, gateways::update),
    r("DELETE", "/gateways/{id}", User, 0, gateways::delete),
    r("PUT", "/gateways/{id}/arm", User, SMALL_BODY, gateways::arm),
    r(
        "POST",
        "/gateways/{id}/originate",
        User,
        SMALL_BODY,
        gateways::originate,
    ),
    // Scenarios
    r("GET", "/scenarios", User, 0, scenarios::list),
    r(
        "POST",
        "/scenarios/check",
        User,
        SCENARIO_BODY,
        scenarios::check,
    ),
    r(
        "POST",
        "/scenarios/import-from-pcap-job",
        User,
        SMALL_BODY,
        scenario_import::import,
    ),
    r("POST", "/scenarios", User, SCENARIO_BODY, scenarios::create),
    r("GET", "/scenarios/{id}", User, 0, scenarios::get),
    r(
        "PUT",
        "/scenarios/{id}",
        User,
        SCENARIO_BODY,
        scenarios::update,
    ),
    r("DELETE", "/scenarios/{id}", User, 0, scenarios::delete),
    r(
        "GET",
        "/scenarios/{id}/history",
        User,
        0,
        scenarios::history,
    ),
    r(
        "GET",
        "/scenarios/{id}/history/{ts}",
        User,
        0,
        scenarios::history_get,
    ),
    r(
        "DELETE",
        "/scenarios/{id}/history/{ts}",
        User,
        0,
        scenarios::history_delete,
    ),
    r(
        "POST",
        "/scenarios/{id}/history/{ts}/fork",
        User,
        JSON_BODY,
        scenarios::fork,
    ),
    r("GET", "/builtin-scenarios", User, 0, builtin::list),
    r("GET", "/builtin-scenarios/{id}", User, 0, builtin::get),
    // Media
    r("GET", "/media/{kind}", User, 0, media::list),
    r(
        "POST",
        "/media/{kind}/{name}",
        User,
        MEDIA_BODY,
        media::upload,
    ),
    by_url("/media/{kind}/{name}", media::download),
    r("DELETE", "/media/{kind}/{name}", User, 0, media::delete),
    r(
        "POST",
        "/servers/{id}/start",
        User,
        JSON_BODY,
        jobs::start_server,
    ),
    r("POST", "/servers/{id}/stop", User, 0, jobs::stop_server),
    r(
        "POST",
        "/clients/{id}/start",
        User,
        JSON_BODY,
        jobs::start_client,
    ),
    r("POST", "/clients/{id}/stop", User, 0, jobs::stop_client),
    // Jobs
    r("GET", "/jobs", User, 0, jobs::list),
    r("POST", "/jobs", User, JSON_BODY, jobs::create),
    r("GET", "/jobs/{id}", User, 0, jobs::get),
    r("PATCH", "/jobs/{id}", User, JSON_BODY, jobs::update),
    r("DELETE", "/jobs/{id}", User, 0, jobs::delete),
    r("POST", "/jobs/{id}/stop", User, 0, jobs::stop),
    // A cluster job's worker pods post their lines and call records: the job's own
    // token, checked by the handler (no user's token opens them).
    r(
        "POST",
        "/jobs/{id}/worker-lines",
        Open,
        worker_lines::LINES_BODY,
        worker_lines::post,
    ),
    r(
        "POST",
        "/jobs/{id}/worker-records",
        Open,
        worker_lines::LINES_BODY,
        worker_lines::post_records,
    ),
    by_url("/jobs/{id}/events", events::events),
    by_url("/jobs/{id}/artifacts/{kind}", jobs::artifact),
    r("GET", "/jobs/{id}/recordings", User, 0, jobs::recordings),
    by_url("/jobs/{id}/recordings/{name}", jobs::recording),
    by_url("/live", live::live),
    // Prometheus (also served at the root, /metrics).
    scraped("/metrics", metrics::metrics),
    r("GET", "/reports", User, 0, reports::list),
    r("GET", "/reports/export.zip", User, 0, reports::export),
    r("GET", "/load-test", User, 0, loadtest::info),
    r("POST", "/load-test/run", User, JSON_BODY, loadtest::run),
    r("GET", "/tools", User, 0, tools::list),
    r("POST", "/tools/{id}/run", User, JSON_BODY, tools::run),
    // Administration
    r("GET", "/users", Admin, 0, users::list),
    r("POST", "/users", Admin, SMALL_BODY, users::create),
    // An admin, or the user itself (the handler checks which).
    r("GET", "/users/{id}", User, 0, users::get),
    r("PUT", "/users/{id}", Admin, SMALL_BODY, users::update),
    r("DELETE", "/users/{id}", Admin, 0, users::delete),
    r("GET", "/audit", Admin, 0, audit::list),
    r("GET", "/settings", User, 0, settings::get),
    r(
        "POST",
        "/settings/rotate-jwt-secret",
        Admin,
        0,
        settings::rotate_jwt_secret,
    ),
];

/// The `/api/v2` routes `gossipper server` answers itself before the router sees the
/// request (`server::v2`: the live SIP trace and the calls catalogue of its engines).
/// Listed so the OpenAPI document of server mode describes them; [`find`] never
/// returns one (under `gossipper ui` they do not exist).
pub(crate) const SERVER_ROUTES: &[Route] = &[
    r("GET", "/sip/trace", User, 0, server_only),
    r("GET", "/sip/trace/capture", User, 0, server_only),
    r("PUT", "/sip/trace/capture", User, 4 << 10, server_only),
    r("POST", "/sip/trace/clear", User, 0, server_only),
    by_url("/sip/trace/ws", server_only),
    by_url("/sip/trace/export", server_only),
    r("GET", "/calls", User, 0, server_only),
    r("GET", "/calls/{id}", User, 0, server_only),
    r("POST", "/calls/clear", User, 0, server_only),
];

/// The handler of [`SERVER_ROUTES`], never called: `gossipper server` answers them.
fn server_only(_ctx: &Ctx, _call: &mut Call<'_, '_>) -> Result<Reply, ApiError> {
    Err(ApiError::NotFound(
        "this route is served by gossipper server only".into(),
    ))
}

/// Matches a path against one pattern, returning its parameters.
fn matches(pattern: &'static str, path: &str) -> Option<Params> {
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(s)) => {
                if let Some(name) = p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.push((name, super::percent_decode(s)));
                } else if p != s {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The route for a request: 404 when no pattern matches the path, 405 when only the
/// method is wrong. `HEAD` is answered as `GET`.
pub(crate) fn find(method: &str, path: &str) -> Result<(&'static Route, Params), ApiError> {
    let method = if method == "HEAD" { "GET" } else { method };
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut path_matched = false;
    for route in ROUTES {
        if let Some(params) = matches(route.pattern, path) {
            if route.method == method {
                return Ok((route, params));
            }
            path_matched = true;
        }
    }
    if path_matched {
        Err(ApiError::MethodNotAllowed)
    } else {
        Err(ApiError::NotFound(format!("no route for {path}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_routes_with_parameters() {
        let (route, params) = find(
            "POST",
            "/scenarios/uac/history/20250101T000000.000000000Z/fork",
        )
        .unwrap();
        assert_eq!(route.pattern, "/scenarios/{id}/history/{ts}/fork");
        assert_eq!(
            params,
            [
                ("id", "uac".to_string()),
                ("ts", "20250101T000000.000000000Z".to_string())
            ]
        );
        assert_eq!(find("GET", "/scenarios/").unwrap().0.pattern, "/scenarios");
    }

    #[test]
    fn wrong_method_is_405_and_unknown_path_is_404() {
        assert_eq!(
            find("PATCH", "/scenarios").err().map(|e| e.status()),
            Some(405)
        );
        assert_eq!(find("GET", "/nope").err().map(|e| e.status()), Some(404));
        assert_eq!(
            find("GET", "/media/wav/a/b").err().map(|e| e.status()),
            Some(404)
        );
    }

    #[test]
    fn encoded_parameters_are_decoded_so_traversal_is_seen_by_the_name_check() {
        let (_, params) = find("GET", "/scenarios/..%2Fx").unwrap();
        assert_eq!(params[0].1, "../x");
    }

    #[test]
    fn every_route_is_unique() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "{} {}",
                    a.method,
                    a.pattern
                );
            }
        }
    }

    #[test]
    fn tickets_open_only_reads_a_browser_must_open_by_url() {
        let by_ticket: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.ticket)
            .map(|r| (r.method, r.pattern, r.access))
            .collect();
        assert_eq!(
            by_ticket,
            [
                ("GET", "/media/{kind}/{name}", User),
                ("GET", "/jobs/{id}/events", User),
                ("GET", "/jobs/{id}/artifacts/{kind}", User),
                ("GET", "/jobs/{id}/recordings/{name}", User),
                ("GET", "/live", User),
            ]
        );
    }

    #[test]
    fn the_scrape_token_opens_only_metrics() {
        let scraped: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.scrape)
            .map(|r| (r.method, r.pattern, r.access, r.ticket))
            .collect();
        assert_eq!(scraped, [("GET", "/metrics", User, false)]);
    }

    #[test]
    fn only_user_and_role_administration_routes_are_admin_only() {
        let admin: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.access == Access::Admin)
            .map(|r| (r.method, r.pattern))
            .collect();
        assert_eq!(
            admin,
            [
                ("GET", "/users"),
                ("POST", "/users"),
                ("PUT", "/users/{id}"),
                ("DELETE", "/users/{id}"),
                ("GET", "/audit"),
                ("POST", "/settings/rotate-jwt-secret"),
            ]
        );
    }
}
