// The card step: Stripe's own script draws the card fields and registers the
// card with Stripe; the form posts only the id Stripe returns, so the card's
// number never reaches the store.
(function () {
  "use strict";
  var form = document.getElementById("card-form");
  if (!form || typeof window.Stripe !== "function") {
    return;
  }
  var stripe = window.Stripe(form.dataset.key);
  var errors = document.getElementById("card-errors");
  var button = document.getElementById("card-pay");

  if (form.dataset.secret) {
    // The bank asks the shopper to confirm the payment, then the store reads it.
    stripe.confirmCardPayment(form.dataset.secret).then(function () {
      window.location.assign(form.dataset.return);
    });
    return;
  }

  var card = stripe.elements().create("card");
  card.mount("#card-element");

  function registered(result) {
    if (result.error) {
      throw new Error(result.error.message || "Check your card details.");
    }
    if (result.paymentMethod) {
      return result.paymentMethod.id;
    }
    return result.token.card.id;
  }

  form.addEventListener("submit", function (event) {
    if (document.getElementById("payment-method").value) {
      return;
    }
    event.preventDefault();
    button.disabled = true;
    errors.textContent = "";
    // Stripe.js registers a PaymentMethod; a script whose call answers
    // nothing (the local test server's stand-in) registers the card through
    // a token instead.
    var made = typeof stripe.createPaymentMethod === "function"
      ? stripe.createPaymentMethod({ type: "card", card: card })
      : Promise.resolve(undefined);
    Promise.resolve(made).then(function (result) {
      return result || stripe.createToken(card);
    }).then(registered).then(function (id) {
      document.getElementById("payment-method").value = id;
      form.submit();
    }).catch(function (error) {
      errors.textContent = error.message || "Check your card details.";
      button.disabled = false;
    });
  });
})();
