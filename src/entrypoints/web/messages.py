"""Texts the core says in English that the web shows to a client, marked here so that translation extraction finds
them: statuses (the `label` filter), the statement's aging buckets, the payment return states, and the messages of
the sign-in flow and the request form. The web passes each through gettext when it shows it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

# A record's status, in the context "status" (an invoice that is "Paid" is not the amount "Paid").
STATUS_LABELS = (
    lazy_pgettext("status", "Draft"), lazy_pgettext("status", "Sent"), lazy_pgettext("status", "Partially paid"),
    lazy_pgettext("status", "Paid"), lazy_pgettext("status", "Void"), lazy_pgettext("status", "Accepted"),
    lazy_pgettext("status", "Declined"), lazy_pgettext("status", "Expired"), lazy_pgettext("status", "Scheduled"),
    lazy_pgettext("status", "In progress"), lazy_pgettext("status", "On hold"),
    lazy_pgettext("status", "Completed"), lazy_pgettext("status", "Cancelled"), lazy_pgettext("status", "Active"),
    lazy_pgettext("status", "Open"), lazy_pgettext("status", "Done"), lazy_pgettext("status", "New"),
    lazy_pgettext("status", "Closed"),
)
AGING_BUCKETS = (_l("not yet due"), _l("1–30"), _l("31–60"), _l("61–90"), _l("over 90"))
PAYMENT_STATES = (_l("Payment received"), _l("Payment processing"), _l("Payment cancelled"))
CORE_MESSAGES = (
    _l("Enter a valid email address, like name@example.com."),
    _l("Too many code requests. Please wait a few minutes before asking for another code."),
    _l("Too many wrong codes from your network. Please wait an hour and try again."),
    _l("That code is not right, or it has expired. Check the latest email, or ask for a new code."),
    _l("We could not email your code just now. We keep trying while it is valid; please ask for a new code in a few "
       "minutes, or contact us if it keeps happening."),
    _l("If that email belongs to a contact of this portal, a 6-digit code is on its way. It is valid for 10 minutes."),
    _l("You have sent many requests in the last hour. Please wait a while before sending another; what you typed is "
       "still here."),
    _l("This form has expired. Please reload the page and try again."),
    _l("Enter a title for your request."),
    _l("Describe what you need."),
    _l("Choose at least one invoice to pay."),
    _l("One of the chosen invoices cannot be found. Reload the invoice list and choose again."),
)
