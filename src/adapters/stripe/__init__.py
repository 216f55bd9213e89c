"""Stripe Checkout behind the PaymentGateway port: hosted Checkout Sessions, session checks, signed webhooks."""

from adapters.stripe.gateway import StripePaymentGateway

__all__ = ["StripePaymentGateway"]
