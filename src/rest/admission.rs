//! The admission of a request: the one ordered sequence of checks every handler goes through
//! before it acts, so that a step cannot be forgotten and every route answers with the same
//! precedence (docs/rest.md, "Tenancy" and "Errors"). The route paths live here too, each with
//! the lookup that makes it name something (its 404).

use std::sync::Arc;

use axum::http::HeaderMap;
use kube::runtime::reflector::ObjectRef;
use serde::Deserialize;

use super::auth::Caller;
use super::error::{ApiError, FieldError};
use super::{AppState, ORG_LABEL, validate};
use crate::resources::{Action, ActionRun};

/// A request that passed admission.
#[derive(Debug)]
pub struct Admitted<T, I> {
    /// Who sent it (`anonymous` with `--auth=none`).
    pub caller: Caller,
    /// What the path names: `()` for the workspace/app prefix, the Action, or the run.
    pub target: T,
    /// The query or body the handler read, now known to be valid.
    pub input: I,
}

impl AppState {
    /// Admits a request for `verb` on `resource` (of punctual.dev) at `path`, with `input` the
    /// handler's reading of its query or body. The order is the facade's status precedence,
    /// here and nowhere else:
    ///
    /// 1. authenticate: 401;
    /// 2. authorize `verb` on `resource` in the workspace namespace: 403. It does not depend on
    ///    whether the namespace exists, so a 403 reveals nothing;
    /// 3. the grammar of the path ids (`validate::PATH_PARAMS`): 422 with every bad id in path
    ///    order, followed by the errors of `input`, as FastAPI reports every request error at
    ///    once;
    /// 4. tenancy: the path must name something in its org, workspace and app, else 404
    ///    (`RoutePath::resolve`);
    /// 5. `input`: 422 with its errors.
    ///
    /// Before this, the extractors answer what cannot be read at all (malformed JSON, a body
    /// over the limit, an undecodable path or query), after authenticating (`extract`), so a
    /// 401 still comes first. After it, the handler may still answer
    /// 422 for checks that need the valid input (cron, zone, templates, the endpoint), and
    /// whatever the API server says to its write.
    pub async fn admit<P: RoutePath, I>(
        &self,
        headers: &HeaderMap,
        verb: &str,
        resource: &str,
        path: &P,
        input: Result<I, Vec<FieldError>>,
    ) -> Result<Admitted<P::Target, I>, ApiError> {
        let caller = self.auth.authenticate(headers).await?;
        self.auth
            .authorize(&caller, verb, resource, &path.scope().workspace_id)
            .await?;
        let mut errors = validate::check_path(&path.ids());
        if !errors.is_empty() {
            if let Err(input_errors) = input {
                errors.extend(input_errors);
            }
            return Err(ApiError::Validation(errors));
        }
        let target = path.resolve(self)?;
        let input = input.map_err(ApiError::Validation)?;
        Ok(Admitted {
            caller,
            target,
            input,
        })
    }

    /// Whether the workspace exists and belongs to the org.
    fn workspace_in_org(&self, org: &str, workspace: &str) -> bool {
        self.namespaces
            .get(&ObjectRef::new(workspace))
            .is_some_and(|ns| {
                ns.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(ORG_LABEL))
                    .is_some_and(|o| o == org)
            })
    }

    /// The Action, if it is in this workspace and app. A wrong org or a missing workspace is
    /// the same 404 as a missing Action, so that nothing about other orgs leaks.
    pub(super) fn find_action(
        &self,
        scope: &Scope,
        action_id: &str,
    ) -> Result<Arc<Action>, ApiError> {
        if !self.workspace_in_org(&scope.org_id, &scope.workspace_id) {
            return Err(ApiError::action_not_found(action_id));
        }
        self.actions
            .get(&ObjectRef::new(action_id).within(&scope.workspace_id))
            .filter(|a| a.spec.app == scope.app_id)
            .ok_or_else(|| ApiError::action_not_found(action_id))
    }
}

/// The path parameters of a route.
pub trait RoutePath {
    /// What the path names once it is known to exist.
    type Target;
    /// The workspace/app prefix, for authorization.
    fn scope(&self) -> &Scope;
    /// Every id as (parameter name, value), in path order, for the grammar check.
    fn ids(&self) -> Vec<(&'static str, &str)>;
    /// The target, or the 404 the client gets; called only with ids in their grammar.
    fn resolve(&self, state: &AppState) -> Result<Self::Target, ApiError>;
}

/// Path parameters of the workspace/app prefix (the list and create routes).
#[derive(Deserialize, Clone, Debug)]
pub struct Scope {
    pub org_id: String,
    pub workspace_id: String,
    pub app_id: String,
}

impl RoutePath for Scope {
    type Target = ();

    fn scope(&self) -> &Scope {
        self
    }

    fn ids(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("org_id", &self.org_id),
            ("workspace_id", &self.workspace_id),
            ("app_id", &self.app_id),
        ]
    }

    /// A wrong org or a missing workspace is a 404 for the workspace.
    fn resolve(&self, state: &AppState) -> Result<(), ApiError> {
        if state.workspace_in_org(&self.org_id, &self.workspace_id) {
            Ok(())
        } else {
            Err(ApiError::NotFound {
                resource_type: "workspace",
                resource_id: self.workspace_id.clone(),
            })
        }
    }
}

/// Path parameters of one Action.
#[derive(Deserialize, Clone, Debug)]
pub struct ActionPath {
    #[serde(flatten)]
    pub scope: Scope,
    pub action_id: String,
}

impl RoutePath for ActionPath {
    type Target = Arc<Action>;

    fn scope(&self) -> &Scope {
        &self.scope
    }

    fn ids(&self) -> Vec<(&'static str, &str)> {
        let mut ids = self.scope.ids();
        ids.push(("action_id", &self.action_id));
        ids
    }

    fn resolve(&self, state: &AppState) -> Result<Arc<Action>, ApiError> {
        state.find_action(&self.scope, &self.action_id)
    }
}

/// Path parameters of one run.
#[derive(Deserialize, Clone, Debug)]
pub struct RunPath {
    #[serde(flatten)]
    pub action: ActionPath,
    pub run_id: String,
}

impl RoutePath for RunPath {
    type Target = Arc<ActionRun>;

    fn scope(&self) -> &Scope {
        &self.action.scope
    }

    fn ids(&self) -> Vec<(&'static str, &str)> {
        let mut ids = self.action.ids();
        ids.push(("run_id", &self.run_id));
        ids
    }

    /// The Action's 404 first, then the run's: a run of this Action that is still listed.
    fn resolve(&self, state: &AppState) -> Result<Arc<ActionRun>, ApiError> {
        let ActionPath { scope, action_id } = &self.action;
        state.find_action(scope, action_id)?;
        state
            .runs
            .get(&ObjectRef::new(&self.run_id).within(&scope.workspace_id))
            .filter(|r| {
                &r.spec.action == action_id && super::model::is_listed(r, chrono::Utc::now())
            })
            .ok_or_else(|| ApiError::NotFound {
                resource_type: "run",
                resource_id: self.run_id.clone(),
            })
    }
}
