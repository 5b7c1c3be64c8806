"""What a trained model and the edge agree on: the single source of truth.

Training imports these names; the edge reads the same facts back from an exported
model's metadata and refuses a model that does not fit.
"""

IMAGE_SIZE = 28
# MNIST fits each digit into a 20x20 box and centres it by centre of mass in 28x28.
DIGIT_BOX = 20
CLASSES = tuple(range(10))
# Statistics of the MNIST training images in [0, 1]; applied INSIDE the exported graph.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# Version 2 adds an optional reject output: one more column of `probabilities` (and `logits`)
# that means "not a digit". Its index is in META_REJECT_INDEX ("" for a model without one).
# Version 1 models (10 columns, no reject) are still read.
CONTRACT_VERSION = "2"
READABLE_CONTRACTS = ("1", "2")
REJECT_INDEX = len(CLASSES)  # the reject class follows the digits
INPUT_NAME = "image"
PROBABILITIES_NAME = "probabilities"
LOGITS_NAME = "logits"
INPUT_DESCRIPTION = (
    "float32 [N,1,28,28] in [0,1], white ink on black (MNIST polarity), digit fitted into "
    "20x20 and centred by centre of mass; normalisation and softmax are inside the graph"
)

# ONNX metadata_props keys written by digits-export and read by digits-edge.
META_CONTRACT = "digits.contract"
META_ARCHITECTURE = "digits.architecture"
META_CLASSES = "digits.classes"
META_INPUT = "digits.input"
META_TEST_ACCURACY = "digits.test_accuracy"
META_PARITY = "digits.parity"
META_CHECKPOINT_SHA256 = "digits.checkpoint_sha256"
META_TORCH_VERSION = "digits.torch_version"
META_ONNX_VERSION = "digits.onnx_version"
META_TOOLKIT_VERSION = "digits.toolkit_version"
META_CREATED = "digits.created"
META_QUANTIZATION = "digits.quantization"
META_REJECT_INDEX = "digits.reject_index"
META_REJECT_FIGURES = "digits.reject_figures"  # JSON: how the model does on digits and on non-digits
REQUIRED_METADATA = (META_CONTRACT, META_ARCHITECTURE, META_CLASSES)
