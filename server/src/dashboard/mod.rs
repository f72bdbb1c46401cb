//! The server-rendered dashboard: plain HTML and inline SVG, one handler per page.

pub mod data;
pub mod html;
pub mod pages;
pub mod svg;

use crate::clock::SharedClock;
use crate::store::Store;
use anyhow::Result;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;

pub struct Dashboard {
    pub store: Store,
    pub clock: SharedClock,
}

type Params = Query<HashMap<String, String>>;
type Dash = State<Arc<Dashboard>>;

pub fn router(dash: Arc<Dashboard>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/apps/{app}", get(overview))
        .route("/apps/{app}/action", get(action))
        .route("/apps/{app}/hosts", get(hosts))
        .route("/apps/{app}/metrics", get(metrics))
        .route("/apps/{app}/samples", get(samples))
        .route("/apps/{app}/samples/{id}", get(sample))
        .route("/apps/{app}/incidents", get(incidents))
        .route("/apps/{app}/incidents/{id}", get(incident))
        .route("/apps/{app}/incidents/{id}/state", post(incident_state))
        .route("/apps/{app}/alerts", get(alerts))
        .route("/apps/{app}/triggers", post(create_trigger))
        .with_state(dash)
}

/// Runs a page renderer off the async threads; `Ok(None)` is a 404.
async fn render<F>(dash: Arc<Dashboard>, f: F) -> Response
where
    F: FnOnce(&Store, i64) -> Result<Option<String>> + Send + 'static,
{
    let result = tokio::task::spawn_blocking(move || f(&dash.store, dash.clock.now_unix())).await;
    match result {
        Ok(Ok(Some(body))) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
        }
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "not found").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("dashboard error: {e:#}"),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "dashboard task failed").into_response(),
    }
}

fn param(q: &HashMap<String, String>, key: &str) -> String {
    q.get(key).cloned().unwrap_or_default()
}

async fn index(State(d): Dash) -> Response {
    render(d, |s, _| pages::index(s).map(Some)).await
}

async fn overview(State(d): Dash, Path(app): Path<i64>, Query(q): Params) -> Response {
    let range = data::Range::parse(q.get("range").map(String::as_str));
    render(d, move |s, now| pages::overview(s, app, range, now)).await
}

async fn action(State(d): Dash, Path(app): Path<i64>, Query(q): Params) -> Response {
    let range = data::Range::parse(q.get("range").map(String::as_str));
    let (ns, name) = (param(&q, "ns"), param(&q, "name"));
    render(d, move |s, now| {
        pages::action(s, app, &ns, &name, range, now)
    })
    .await
}

async fn hosts(State(d): Dash, Path(app): Path<i64>, Query(q): Params) -> Response {
    let range = data::Range::parse(q.get("range").map(String::as_str));
    render(d, move |s, now| pages::metrics(s, app, 1, range, now)).await
}

async fn metrics(State(d): Dash, Path(app): Path<i64>, Query(q): Params) -> Response {
    let range = data::Range::parse(q.get("range").map(String::as_str));
    render(d, move |s, now| pages::metrics(s, app, 0, range, now)).await
}

async fn samples(State(d): Dash, Path(app): Path<i64>, Query(q): Params) -> Response {
    let (ns, name) = (param(&q, "ns"), param(&q, "name"));
    render(d, move |s, _| pages::samples(s, app, &ns, &name)).await
}

async fn sample(State(d): Dash, Path((app, id)): Path<(i64, i64)>) -> Response {
    render(d, move |s, _| pages::sample(s, app, id)).await
}

async fn incidents(State(d): Dash, Path(app): Path<i64>) -> Response {
    render(d, move |s, _| pages::incidents(s, app)).await
}

async fn incident(State(d): Dash, Path((app, id)): Path<(i64, i64)>) -> Response {
    render(d, move |s, _| pages::incident(s, app, id)).await
}

async fn incident_state(
    State(d): Dash,
    Path((app, id)): Path<(i64, i64)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let state = if param(&form, "state") == "closed" {
        "closed"
    } else {
        "open"
    };
    let store = d.store.clone();
    let done =
        tokio::task::spawn_blocking(move || data::set_incident_state(&store, app, id, state)).await;
    match done {
        Ok(Ok(())) => Redirect::to(&format!("/apps/{app}/incidents/{id}")).into_response(),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not update incident",
        )
            .into_response(),
    }
}

async fn alerts(State(d): Dash, Path(app): Path<i64>) -> Response {
    render(d, move |s, _| pages::alerts(s, app, "")).await
}

async fn create_trigger(
    State(d): Dash,
    Path(app): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    render(d, move |s, now| {
        let trigger = crate::store::admin::NewTrigger {
            metric: param(&form, "metric"),
            namespace: param(&form, "namespace"),
            action: param(&form, "action"),
            name: param(&form, "name"),
            hostname: param(&form, "hostname"),
            tag: param(&form, "tag"),
            above: param(&form, "above").parse().unwrap_or(0.0),
            close_after: param(&form, "close_after").parse().unwrap_or(3),
        };
        let message = match s.create_trigger(app, &trigger, now) {
            Ok(id) => format!("Created trigger {id}."),
            Err(e) => format!("Could not create trigger: {e}"),
        };
        pages::alerts(s, app, &message)
    })
    .await
}
