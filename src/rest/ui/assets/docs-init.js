// Swagger UI over the facade's own OpenAPI document. No validator badge (it would call
// validator.swagger.io) and no external request at all: the page's CSP allows only this origin.
// "Authorize" takes the same bearer token as the dashboard; it stays in this tab only.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  tryItOutEnabled: false,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
