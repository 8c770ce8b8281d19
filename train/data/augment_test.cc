#include "train/data/augment.h"

#include <set>
#include <tuple>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace freezing::train {
namespace {

using ::testing::HasSubstr;

// A data set of one image with distinct bytes, for exact checks.
Dataset OneImage(int channels, int size) {
  Dataset d;
  d.name = "one";
  d.num_classes = 1;
  d.train.channels = channels;
  d.train.height = size;
  d.train.width = size;
  d.train.labels = {0};
  for (int k = 0; k < channels * size * size; ++k) {
    d.train.pixels.push_back(1 + k % 250);
  }
  d.test = d.train;
  for (int c = 0; c < channels; ++c) {
    d.mean.push_back(0.25f + 0.1f * c);
    d.stddev.push_back(0.5f);
  }
  return d;
}

float Normalised(const Dataset& d, int channel, int byte) {
  return (byte / 255.0f - d.mean[channel]) / d.stddev[channel];
}

TEST(AugmentTest, IdentityOnA32x32ImageIsNormalisation) {
  const Dataset d = OneImage(3, 32);
  absl::StatusOr<SampleRenderer> r = SampleRenderer::Create(d, 3);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<float> out(r->out_elements());
  r->Render(d.train.image(0), IdentityAugmentation({}), out.data());
  for (int k = 0; k < 3 * 1024; ++k) {
    ASSERT_EQ(out[k], Normalised(d, k / 1024, d.train.pixels[k])) << k;
  }
}

TEST(AugmentTest, FashionSizedImagesArePaddedAndRepeated) {
  const Dataset d = OneImage(1, 28);
  absl::StatusOr<SampleRenderer> r = SampleRenderer::Create(d, 3);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<float> out(r->out_elements());
  r->Render(d.train.image(0), IdentityAugmentation({}), out.data());
  const float black = Normalised(d, 0, 0);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 32; ++y) {
      for (int x = 0; x < 32; ++x) {
        const float v = out[c * 1024 + y * 32 + x];
        if (y < 2 || y >= 30 || x < 2 || x >= 30) {
          ASSERT_EQ(v, black) << c << " " << y << " " << x;
        } else {
          ASSERT_EQ(v, Normalised(d, 0, d.train.pixels[(y - 2) * 28 + x - 2]));
        }
      }
    }
  }
  // One input channel for a one-channel model.
  EXPECT_TRUE(SampleRenderer::Create(d, 1).ok());
}

TEST(AugmentTest, CropAndFlipMoveThePixels) {
  const Dataset d = OneImage(1, 32);
  absl::StatusOr<SampleRenderer> r = SampleRenderer::Create(d, 1);
  ASSERT_TRUE(r.ok());
  std::vector<float> out(1024);
  // Crop at (1, 7) of the 40x40 padded image: output (y, x) is input
  // (y - 3, x + 3).
  r->Render(d.train.image(0), Augmentation{1, 7, false}, out.data());
  const float black = Normalised(d, 0, 0);
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      const int sy = y - 3, sx = x + 3;
      const float expected =
          (sy < 0 || sx >= 32) ? black
                               : Normalised(d, 0, d.train.pixels[sy * 32 + sx]);
      ASSERT_EQ(out[y * 32 + x], expected) << y << " " << x;
    }
  }
  // The flip mirrors the crop: output (y, x) is crop (y, 31 - x).
  std::vector<float> flipped(1024);
  r->Render(d.train.image(0), Augmentation{1, 7, true}, flipped.data());
  for (int y = 0; y < 32; ++y) {
    for (int x = 0; x < 32; ++x) {
      ASSERT_EQ(flipped[y * 32 + x], out[y * 32 + 31 - x]);
    }
  }
}

TEST(AugmentTest, ImagesThatDoNotFitAreRefused) {
  const Dataset rgb = OneImage(3, 32);
  const absl::Status s = SampleRenderer::Create(rgb, 1).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("3 channel(s) but the model takes 1"));
  EXPECT_EQ(SampleRenderer::Create(rgb, 3, 28).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AugmentTest, OffIsIdentityVariantZero) {
  AugmentOptions off;
  off.enabled = false;
  off.variants = 4;
  for (int e = 0; e < 3; ++e) {
    int v = -7;
    EXPECT_EQ(ChooseAugmentation(off, e, 11, &v), IdentityAugmentation(off));
    EXPECT_EQ(v, 0);
  }
}

TEST(AugmentTest, FreshAugmentationIsDeterministicPerSeedEpochSample) {
  AugmentOptions o;
  o.seed = 5;
  std::set<std::tuple<int, int, bool>> seen;
  for (int e = 0; e < 50; ++e) {
    int v;
    const Augmentation a = ChooseAugmentation(o, e, 3, &v);
    EXPECT_EQ(v, kFreshVariant);
    int v2;
    EXPECT_EQ(ChooseAugmentation(o, e, 3, &v2), a);
    EXPECT_GE(a.dy, 0);
    EXPECT_LE(a.dy, 8);
    EXPECT_GE(a.dx, 0);
    EXPECT_LE(a.dx, 8);
    seen.insert({a.dy, a.dx, a.flip});
  }
  EXPECT_GT(seen.size(), 30u);  // 162 possible; 50 draws rarely collide much
  AugmentOptions other = o;
  other.seed = 6;
  int differ = 0;
  for (int s = 0; s < 50; ++s) {
    int v;
    differ += !(ChooseAugmentation(o, 0, s, &v) ==
                ChooseAugmentation(other, 0, s, &v));
  }
  EXPECT_GT(differ, 40);
}

TEST(AugmentTest, FixedVariantsAreReusedAcrossEpochs) {
  AugmentOptions o;
  o.seed = 9;
  o.variants = 3;
  for (int64_t sample : {0, 1, 1000}) {
    std::set<int> variants_seen;
    for (int e = 0; e < 40; ++e) {
      int v;
      const Augmentation a = ChooseAugmentation(o, e, sample, &v);
      ASSERT_GE(v, 0);
      ASSERT_LT(v, 3);
      variants_seen.insert(v);
      EXPECT_EQ(a, VariantAugmentation(o, sample, v));
    }
    EXPECT_EQ(variants_seen.size(), 3u) << sample;
  }
  // Flips are fair over many samples.
  int flips = 0;
  for (int s = 0; s < 2000; ++s) flips += VariantAugmentation(o, s, 0).flip;
  EXPECT_NEAR(flips, 1000, 120);
}

}  // namespace
}  // namespace freezing::train
