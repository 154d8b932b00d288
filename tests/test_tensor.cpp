// Tensor basics without gradients: factories, layout queries, copies with broadcasting and dtype
// conversion, printing, and the error messages of bad arguments.
#include <gmock/gmock.h>

#include <sstream>

#include "test_util.h"

namespace scorch {
namespace {

using ::testing::HasSubstr;

TEST(Tensor, FactoriesFillShapeAndDtype) {
  const Tensor z = zeros({2, 3}, {.dtype = kFloat64});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.dtype(), kFloat64);
  EXPECT_EQ(z.values(), std::vector<double>(6, 0.0));
  EXPECT_EQ(full({2}, 7.5).values(), (std::vector<double>{7.5, 7.5}));
  EXPECT_EQ(ones({}, {.dtype = kInt64}).item(), 1.0);
  EXPECT_EQ(arange(0, 5, 2).values(), (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(linspace(-1, 1, 5).values(), (std::vector<double>{-1, -0.5, 0, 0.5, 1}));
  EXPECT_EQ(scalar_tensor(3).dim(), 0);
  EXPECT_EQ(empty({0, 4}).numel(), 0);
}

TEST(Tensor, IntegerAndByteDtypesHoldValues) {
  const Tensor i = from_vector({1, -2, 3}, {.dtype = kInt64});
  EXPECT_EQ(i.values(), (std::vector<double>{1, -2, 3}));
  const Tensor u = from_vector({0, 255}, {.dtype = kUInt8});
  EXPECT_EQ(u.values(), (std::vector<double>{0, 255}));
  EXPECT_EQ(i.to(kFloat32).values(), (std::vector<double>{1, -2, 3}));
}

TEST(Tensor, CopyBroadcastsAndConverts) {
  Tensor dst = zeros({2, 3}, {.dtype = kFloat64});
  dst.copy_(from_vector({1, 2, 3}));
  EXPECT_EQ(dst.values(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  Tensor t = dst.transpose(0, 1);  // write through a non-contiguous view
  t.copy_(from_vector({9, 8}, {2}));
  EXPECT_EQ(dst.values(), (std::vector<double>{9, 9, 9, 8, 8, 8}));
  EXPECT_THROW(dst.copy_(zeros({4})), std::invalid_argument);
}

TEST(Tensor, CopyFromAnOverlappingViewReadsTheOldValues) {
  Tensor x = from_vector({1, 2, 3, 4}, {2, 2});
  x.copy_(x.transpose(0, 1));
  EXPECT_EQ(x.values(), (std::vector<double>{1, 3, 2, 4}));
  EXPECT_THROW(zeros({3}).expand({2, 3}).copy_(ones({2, 3})), std::invalid_argument);  // overlapping destination
}

TEST(Tensor, ContiguityOfViews) {
  const Tensor a = zeros({2, 3, 4});
  EXPECT_TRUE(a.is_contiguous());
  EXPECT_FALSE(a.transpose(0, 1).is_contiguous());
  EXPECT_TRUE(a.slice(0, 1, 2).is_contiguous());
  EXPECT_FALSE(a.slice(2, 0, 4, 2).is_contiguous());
}

TEST(Tensor, PrintShowsShapeDtypeDeviceAndValues) {
  std::ostringstream os;
  os << from_vector({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(os.str(), "tensor([[1, 2],\n        [3, 4]], shape=[2, 2], dtype=float32, device=cpu)");
  std::ostringstream big;
  big << zeros({100, 100});
  EXPECT_THAT(big.str(), HasSubstr("..."));
  std::ostringstream ramp;
  ramp << arange(0, 2000);
  EXPECT_THAT(ramp.str(), HasSubstr("[0, 1, 2, ..., 1997, 1998, 1999]"));
  EXPECT_LT(big.str().size(), 400u);
}

TEST(Tensor, BadArgumentsGiveClearErrors) {
  EXPECT_THROW(empty({2, -1}), std::invalid_argument);
  EXPECT_THROW(from_vector({1, 2, 3}, {2, 2}), std::invalid_argument);
  EXPECT_THROW(zeros({2}).size(3), std::out_of_range);
  EXPECT_THROW(scalar_tensor(1).size(0), std::out_of_range);
  EXPECT_THROW(zeros({2}).item(), std::invalid_argument);
  EXPECT_THROW(zeros({2}, {.dtype = kInt64}).requires_grad_(), std::invalid_argument);
  EXPECT_THROW(zeros({2}).data<double>(), std::invalid_argument);
  EXPECT_THROW(Shape({1, 1, 1, 1, 1, 1, 1, 1, 1}), std::invalid_argument);
}

}  // namespace
}  // namespace scorch
