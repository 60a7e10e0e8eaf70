// Starts Swagger UI on the API docs page (templates/swagger_ui.html); a file, not an inline
// script, so the Content-Security-Policy can forbid inline scripts.
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  var config = Object.assign(
    { url: container.dataset.specUrl, dom_id: "#swagger-ui-container" },
    JSON.parse(container.dataset.config || "{}")
  );
  window.ui = SwaggerUIBundle(config);
});
