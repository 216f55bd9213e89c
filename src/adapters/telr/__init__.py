"""Telr's hosted payment page behind the PaymentGateway port: its order.json API (create and check)."""

from adapters.telr.gateway import TelrPaymentGateway

__all__ = ["TelrPaymentGateway"]
