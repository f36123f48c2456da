//! The dashboard's operator actions, in two steps so nothing happens on one click: `prepare`
//! checks an action against the cluster and answers what it will do with a one-time token;
//! `confirm` with that token, within a minute, carries it out. The actions are the CLI's
//! (`operations::Action`).

use crate::operations::{Action, OperationError};
use crate::store::Store;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use tracing::info;

/// How long a prepared action waits for its confirmation.
const CONFIRM_WITHIN: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Actions {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    store: Store,
    /// Token → the prepared action and when it was prepared.
    prepared: HashMap<String, (Action, Instant)>,
}

impl Actions {
    pub fn new(store: Store) -> Actions {
        Actions {
            inner: Arc::new(Mutex::new(Inner {
                store,
                prepared: HashMap::new(),
            })),
        }
    }
}

type Answer = (StatusCode, Json<Value>);

fn refused(err: OperationError) -> Answer {
    let status = match err {
        OperationError::Refused(_) => StatusCode::CONFLICT,
        OperationError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(json!({"error": err.to_string()})))
}

/// Step one: the action, checked; what it will do and the token that confirms it.
pub async fn prepare(State(actions): State<Actions>, Json(action): Json<Action>) -> Answer {
    let mut inner = actions.inner.lock().await;
    if let Err(err) = action.check(&mut inner.store).await {
        return refused(err);
    }
    inner
        .prepared
        .retain(|_, (_, at)| at.elapsed() < CONFIRM_WITHIN);
    let token = format!("{:032x}", rand::random::<u128>());
    let description = action.describe();
    inner
        .prepared
        .insert(token.clone(), (action, Instant::now()));
    (
        StatusCode::OK,
        Json(json!({"token": token, "description": description})),
    )
}

#[derive(Deserialize)]
pub struct Confirmation {
    token: String,
}

/// Step two: the prepared action, carried out (once).
pub async fn confirm(
    State(actions): State<Actions>,
    Json(confirmation): Json<Confirmation>,
) -> Answer {
    let mut inner = actions.inner.lock().await;
    let Some((action, at)) = inner.prepared.remove(&confirmation.token) else {
        let error = "no such action to confirm (it was confirmed already, or never prepared)";
        return (StatusCode::NOT_FOUND, Json(json!({"error": error})));
    };
    if at.elapsed() >= CONFIRM_WITHIN {
        let error = "the confirmation came too late: prepare the action again";
        return (StatusCode::GONE, Json(json!({"error": error})));
    }
    if let Err(err) = action.apply(&mut inner.store).await {
        return refused(err);
    }
    let description = action.describe();
    info!(%description, "dashboard action carried out");
    (StatusCode::OK, Json(json!({"done": description})))
}
