"""In-memory adapters of every port: the unit tests' fakes, the contract suite's reference, and handy to embedders."""

from adapters.memory.files import InMemoryFileStorage
from adapters.memory.mail import RecordingEmailSender
from adapters.memory.payments import InMemoryPaymentGateway
from adapters.memory.schema import InMemorySchemaStatus
from adapters.memory.system import FixedClock, SeededRandomness
from adapters.memory.unit_of_work import InMemoryStore, InMemoryUnitOfWork

__all__ = ["FixedClock", "InMemoryFileStorage", "InMemoryPaymentGateway", "InMemorySchemaStatus", "InMemoryStore",
           "InMemoryUnitOfWork", "RecordingEmailSender", "SeededRandomness"]
