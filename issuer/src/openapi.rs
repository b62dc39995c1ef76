//! The OpenAPI document of the whole HTTP API, served at `GET /openapi.json`.
//!
//! Generated from the code: each handler carries its `#[utoipa::path(...)]` (method, path, parameters,
//! body, and every status it answers) and its request and response types derive `ToSchema`; this
//! module collects them. What every route answers because of the middleware around it (408 on a
//! timeout, 429 from the per-address rate limit, 500 from a panic) is added to each operation here,
//! where that middleware is, by [`MiddlewareAnswers`].
//!
//! `tests/issuer/openapi.rs` checks that the document lists exactly the routes the router has, and
//! `scripts/api-contract` runs schemathesis against a live issuer to check the answers match it.

use std::sync::LazyLock;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, InsufficientCreditsResponse};
use crate::state::AppState;

/// The document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Tessera issuer",
        description = "Offline software licensing: Stripe webhooks in, signed licence keys out; \
                       public keys and the revocation list for apps; credits; the admin API. \
                       Every error is `{\"error\": \"<code>\", \"message\": \"<one line>\"}`.",
    ),
    paths(
        crate::health::healthz,
        crate::health::ready,
        crate::public_keys::keys,
        crate::public_keys::revocations,
        crate::licenses::by_checkout_session,
        crate::validate::validate,
        crate::credits::summary,
        crate::credits::reserve,
        crate::credits::commit,
        crate::credits::release,
        crate::credits::ledger,
        crate::credits::checkout::checkout,
        crate::machines::http::activate,
        crate::machines::http::list,
        crate::machines::http::deactivate,
        crate::machines::http::heartbeat,
        crate::machines::http::offline,
        crate::machines::page::page,
        crate::checkout_page::success,
        crate::webhooks::receive,
        crate::admin::licenses::find,
        crate::admin::licenses::issue,
        crate::admin::licenses::show,
        crate::admin::licenses::reissue,
        crate::admin::licenses::extend,
        crate::admin::licenses::revoke,
        crate::admin::licenses::suspend,
        crate::admin::licenses::reinstate,
        crate::admin::credits::show,
        crate::admin::credits::grant,
        crate::admin::credits::deduct,
        crate::admin::credits::ledger,
        crate::admin::credits::check,
        crate::admin::machines::list,
        crate::admin::machines::set_seats,
        crate::admin::machines::show,
        crate::admin::machines::deactivate,
        crate::admin::machines::activate,
        crate::admin::webhooks::list,
        crate::admin::webhooks::show,
        crate::admin::webhooks::retry,
        crate::admin::keys::rotate,
        crate::admin::audit,
        openapi_json,
    ),
    components(schemas(
        ErrorBody,
        InsufficientCreditsResponse,
        crate::machines::TooManyMachinesBody
    )),
    modifiers(&SecuritySchemes, &MiddlewareAnswers),
    tags(
        (name = "health", description = "Probes"),
        (name = "apps", description = "What apps fetch: public keys, revocations, licences, validation"),
        (name = "credits", description = "Metered usage, with the licence key as the credential"),
        (name = "machines", description = "Machine activation: seats, certificates, heartbeats, \
            air-gapped activation; the licence key is the credential"),
        (name = "checkout", description = "Stripe: the buyer's return page and the webhooks"),
        (name = "admin", description = "Support's API (`tessera admin`); contract in ADMIN-API.md"),
        (name = "meta", description = "This document"),
    ),
)]
pub struct ApiDoc;

/// The security schemes: the licence key of the credit endpoints and the admin bearer token.
#[derive(Debug)]
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "license_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The licence key: `Authorization: License ts1_…`",
            ))),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An admin token, `tsadm_…`, configured by its SHA-256 under `[admin] tokens`",
                    ))
                    .build(),
            ),
        );
    }
}

/// What any route can answer because of the middleware in [`crate::server`] and
/// [`crate::rate_limit`], added to every operation that does not document the status itself.
#[derive(Debug)]
struct MiddlewareAnswers;

impl Modify for MiddlewareAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str| {
            ResponseBuilder::new().description(description).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorResponse")))
                    .build(),
            )
        };
        let retry_after = || {
            utoipa::openapi::HeaderBuilder::new()
                .schema(Some(<u64 as utoipa::PartialSchema>::schema()))
                .description(Some("Seconds to wait before retrying"))
                .build()
        };
        let answers = [
            (
                "408",
                error("`request_timeout`: the request took longer than `[limits]` allow").build(),
            ),
            (
                "429",
                error("`rate_limited`: more requests from this address than `[limits]` allow")
                    .header("Retry-After", retry_after())
                    .build(),
            ),
            ("500", error("`internal`: an internal error").build()),
            (
                "503",
                error("`storage_unavailable`: the database cannot be read or written just now")
                    .header("Retry-After", retry_after())
                    .build(),
            ),
        ];
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, answer) in &answers {
                    operation
                        .responses
                        .responses
                        .entry((*status).to_owned())
                        .or_insert_with(|| RefOr::T(answer.clone()));
                }
            }
        }
    }
}

static DOCUMENT: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

/// `GET /openapi.json`.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document of this API", body = Object))
)]
async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(&DOCUMENT)
}
